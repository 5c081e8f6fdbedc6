"""The search space and settings: bounds and bad input refused in one sentence before any
trial, a sampled point turned into configs the model accepts."""

from __future__ import annotations

import optuna
import pytest

from karpa.config import load_config
from karpa.errors import ConfigError
from karpa.search.budget import check_budget
from karpa.search.space import check_space, configs_for, sample, smallest, space_digest
from karpa_models.config import load_preset
from karpa_models.model import build_model

FIXED = (
    "search.space={width: [64], layers: [2], heads: [4], mlp_ratio: [4], patch_size: [8], "
    "behaviour_max_len: [32], lr: {low: 0.001, high: 0.001}, loss_weights: {}, "
    "finetune_lr: {low: 0.001, high: 0.001}}"
)


@pytest.mark.parametrize(
    ("override", "sentence"),
    [
        (
            "search.space.width=[]",
            "search.space.width: an empty list of choices leaves nothing to search",
        ),
        (
            FIXED,
            "search.space: every dimension has a single value, so the search space is empty; "
            "give one a second choice or a range",
        ),
        (
            "search.objectives=[quality, latency_p99]",
            "search.objectives: unknown objective 'latency_p99' (known: quality, intent, "
            "sentiment, recommendation, latency_p50, latency_p95, params); did you mean "
            "'latency_p95'?",
        ),
        (
            "search.objectives=[sentiment]",
            "search: objective 'sentiment' scores an application that search.applications "
            "(intent) does not fine-tune",
        ),
        (
            "search.space.heads=[3]",
            "search.space: width 32 is not a multiple of heads 3: every width must divide by "
            "every head count",
        ),
        (
            "search.space.loss_weights={mlmm: {low: 0.1, high: 1.0}}",
            "search.space.loss_weights: unknown pretraining objective 'mlmm' (known: mlm, "
            "text_contrastive, masked_item, image_text, content_behaviour, masked_patch); "
            "did you mean 'mlm'?",
        ),
        (
            "search.space.lr={low: 0.01, high: 0.001}",
            "search.space.lr: low 0.01 is above high 0.001",
        ),
    ],
)
def test_bad_search_settings_are_one_sentence(override, sentence):
    with pytest.raises(ConfigError) as err:
        load_config("demo", [override])
    assert str(err.value) == f"demo with --set: {sentence}"


def test_patch_sizes_must_divide_the_image_side():
    cfg = load_config("demo", ["search.space.patch_size=[8, 12]"])
    with pytest.raises(ConfigError, match=r"^search.space.patch_size: 12 does not divide"):
        check_space(cfg)


def test_a_budget_too_small_for_one_trial_is_refused():
    cfg = load_config("demo", ["search.budget_minutes=0.001", "search.pretrain_steps=50"])
    with pytest.raises(ConfigError) as err:
        check_budget(cfg)
    text = str(err.value)
    assert text.startswith("search.budget_minutes: 0.001 min is too small for one trial")
    assert "50 steps" in text and "\n" not in text
    check_budget(load_config("demo", ["search.budget_minutes=600", "search.pretrain_steps=5"]))


def test_a_sampled_point_builds_a_model_with_its_architecture():
    cfg = load_config("demo")
    space = cfg.search.space
    study = optuna.create_study(directions=["maximize", "minimize"])
    params = sample(study.ask(), space)
    assert set(params) == {*space.categorical(), *space.ranges()}
    model_cfg, train_cfg = configs_for(params, *load_preset("tiny"))
    for tower in (model_cfg.text, model_cfg.image, model_cfg.behaviour):
        assert (tower.width, tower.layers, tower.heads) == (
            params["width"],
            params["layers"],
            params["heads"],
        )
    assert model_cfg.image.patch_size == params["patch_size"]
    assert train_cfg.lr == params["lr"]
    assert train_cfg.loss_weights["image_text"] == params["weight.image_text"]
    assert train_cfg.loss_weights["mlm"] == 1.0  # not searched: the preset's
    small, _ = configs_for(smallest(space), *load_preset("tiny"))
    big, _ = configs_for({**smallest(space), "width": 128, "layers": 2}, *load_preset("tiny"))
    n = [sum(p.numel() for p in build_model(c).parameters()) for c in (small, big)]
    assert n[0] < n[1]
    assert space_digest(space) != space_digest(space.model_copy(update={"layers": [1]}))
