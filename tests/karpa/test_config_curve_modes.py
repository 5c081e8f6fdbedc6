"""The learning curve's recipe setting is part of the one schema: `curve_mode` (a mode or
auto) and `curve_candidates` are refused at load in one sentence naming the file and key."""

import pytest

from karpa.config import CONFIGS, load_config
from karpa.errors import ConfigError

DEMO = CONFIGS / "demo.yaml"


@pytest.mark.parametrize(
    ("override", "sentence"),
    [
        (
            "finetune.intent.curve_mode=autp",
            "finetune.intent: curve_mode must be one of auto, full, linear_probe, "
            "contrastive_probe, probe_full, got 'autp'; did you mean 'auto'?",
        ),
        (
            "finetune.sentiment.curve_candidates=[full, linear_prob]",
            "finetune.sentiment: curve_candidates must be a non-empty list of full, "
            "linear_probe, contrastive_probe, probe_full, got ['full', 'linear_prob']; did "
            "you mean 'linear_probe'?",
        ),
        (
            "finetune.sentiment.curve_candidates=[]",
            "finetune.sentiment: curve_candidates must be a non-empty list of full, "
            "linear_probe, contrastive_probe, probe_full, got []",
        ),
        (
            "finetune.intent.self_training_rounds=-1",
            "finetune.intent: self_training_rounds must be >= 0 and self_training_share in "
            "(0, 1], got -1 and 0.33",
        ),
        (
            "finetune.intent.probe_full_lr=0",
            "finetune.intent: probe_full_lr must be > 0, got 0.0",
        ),
        (
            "finetune.intent.probe_full_wise=[0.5, 1.0]",
            "finetune.intent: probe_full_wise must each lie strictly between 0 and 1, got "
            "[0.5, 1.0]",
        ),
        (
            "finetune.intent.probe_full_pseudo=1.5",
            "finetune.intent: probe_full_pseudo must be in [0, 1], got 1.5",
        ),
        (
            "finetune.intent.probe_full_soup=0",
            "finetune.intent: probe_full_soup must be >= 1 (1: a single fine-tune), got 0",
        ),
        (
            "finetune.sentiment.probe_full_encoder_lr=-1e-5",
            "finetune.sentiment: probe_full_encoder_lr must be > 0, got -1e-05",
        ),
        (
            "finetune.sentiment.self_training_pool=-5",
            "finetune.sentiment: self_training_pool must be >= 0, got -5",
        ),
    ],
)
def test_bad_curve_recipes_are_refused_at_load(override, sentence):
    with pytest.raises(ConfigError) as err:
        load_config(DEMO, [override])
    assert str(err.value) == f"{DEMO} with --set: {sentence}"


def test_auto_and_its_candidates_load():
    cfg = load_config(
        DEMO,
        ["finetune.intent.curve_mode=auto", "finetune.intent.curve_candidates=[linear_probe]"],
    )
    intent = cfg.finetune.intent.build(preset="tiny", device="cpu")
    assert intent.curve_mode == "auto" and intent.curve_candidates == ("linear_probe",)


def test_self_training_settings_reach_the_curves_probes():
    cfg = load_config(
        DEMO,
        ["finetune.intent.self_training_rounds=2", "finetune.intent.self_training_share=0.5"],
    )
    intent = cfg.finetune.intent.build(preset="tiny", device="cpu")
    recipe = intent.classifier(curve=True, mode="linear_probe")
    assert (recipe.self_training_rounds, recipe.self_training_share) == (2, 0.5)
    assert recipe.self_training_pool == intent.self_training_pool


def test_probe_full_trains_at_its_own_learning_rates():
    sets = [
        "finetune.intent.probe_full_lr=5e-5",
        "finetune.intent.probe_full_encoder_lr=1e-5",
        "finetune.intent.lr=2e-3",
        "finetune.intent.encoder_lr_scale=0.025",  # a fresh head's ratio: not probe_full's
        "finetune.intent.probe_full_wise=[0.5]",
        "finetune.intent.probe_full_pseudo=0.25",
        "finetune.intent.probe_full_soup=3",
        "finetune.intent.probe_full_contrastive=true",
        "finetune.intent.contrastive_per_class=4",
        "finetune.intent.contrastive_temperature=0.05",
    ]
    intent = load_config(DEMO, sets).finetune.intent.build(preset="tiny", device="cpu")
    for recipe in (
        intent.classifier(curve=True, mode="probe_full"),
        intent.classifier(mode="probe_full"),  # a headline mode too
    ):
        assert recipe.lr == 5e-5
        assert recipe.lr * recipe.encoder_lr_scale == pytest.approx(1e-5)
        assert recipe.wise_alphas == (0.5,) and recipe.pseudo_label_share == 0.25
        assert recipe.soup_size == 3 and recipe.contrastive_first
        assert recipe.contrastive_per_class == 4 and recipe.contrastive_temperature == 0.05
    full = intent.classifier(curve=True, mode="full")
    assert (full.lr, full.encoder_lr_scale, full.wise_alphas) == (2e-3, 0.025, ())
    assert full.pseudo_label_share == 0.0  # pseudo-labels are probe_full's: its probe labels
    assert full.soup_size == 1  # soups average probe-started fine-tunes
    assert not full.contrastive_first  # a fresh head's fine-tune has no probe to come first
