"""The keep-the-start rule on a real pretrained start: a pretraining that only hurts (a
learning rate far too high for a pretrained encoder) ends with the start as the
foundation, weight for weight, and the verdict says so."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from karpa_models.checks import ChecksConfig, ChecksData
from karpa_models.pretraining import load_foundation, pretrain
from tests.karpa_models.test_models_checks import colour_probe
from tests.karpa_models.test_models_hf_text import _minilm_folder

pytest.importorskip("transformers", reason="the `hf` extra (transformers) is not installed")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def test_a_pretraining_that_only_hurts_keeps_the_pretrained_start(tmp_path, corpus, make_configs):
    from karpa.pretraining.verdict import foundation_sentence
    from karpa_models.model import build_model

    folder = _minilm_folder()
    model_cfg, train_cfg = make_configs(
        steps=4,
        lr=0.05,  # far too high for a pretrained encoder, and not slowed down for it
        pretrained_lr_scale=1.0,
        warmup_steps=1,
        batch_text=8,
        batch_pairs=8,
        batch_items=8,
        batch_sequences=4,
        checkpoint_every=4,
    )
    model_cfg = dataclasses.replace(model_cfg, text_init=str(folder))
    seen: list[tuple[int, float]] = []
    result = pretrain(
        corpus,
        model_cfg,
        train_cfg,
        tmp_path,
        checks=ChecksData(probes={"colour": colour_probe(n_train=48, n_val=40)}),
        checks_cfg=ChecksConfig(every=2, k=4, repeats=1),
        on_check=lambda step, score: seen.append((step, score)),
    )
    assert [s for s, _ in seen] == [0, 2, 4]
    start_score = seen[0][1]
    assert start_score > 0.5  # MiniLM separates colours out of the box (chance 1/8)
    assert all(score < start_score for _, score in seen[1:])  # training only hurt
    assert result.checks["kept_step"] == 0 and result.checks["start_kept"]

    # The foundation is the start: its text tower is MiniLM's weights, unchanged.
    kept, _, _ = load_foundation(result.checkpoint_path)
    start = build_model(model_cfg)
    original = start.text.state_dict()
    assert all(torch.equal(v, original[k]) for k, v in kept.text.state_dict().items())
    sentence = foundation_sentence(result.checks, pretrained_start=True)
    assert "the foundation is the pretrained start" in sentence


def test_layer_wise_decay_slows_the_lower_pretrained_layers(make_configs):
    from karpa_models.engine import build_optimizer
    from karpa_models.model import build_model
    from karpa_models.pretrain_step import PretrainStep

    model_cfg, train_cfg = make_configs(
        lr=1e-3, pretrained_lr_scale=0.1, pretrained_layer_decay=0.5
    )
    model_cfg = dataclasses.replace(model_cfg, text_init=str(_minilm_folder()))
    model = build_model(model_cfg)
    step = PretrainStep(model, train_cfg, ["mlm", "text_contrastive"])
    opt = build_optimizer(step, train_cfg, torch.device("cpu"))
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    named = dict(model.text.named_parameters())
    top = named["hf.encoder.layer.5.output.dense.weight"]
    below = named["hf.encoder.layer.4.output.dense.weight"]
    embeddings = named["hf.embeddings.word_embeddings.weight"]
    assert lr_of[id(top)] == pytest.approx(1e-4)  # lr * pretrained_lr_scale
    assert lr_of[id(below)] == pytest.approx(5e-5)
    assert lr_of[id(embeddings)] == pytest.approx(1e-4 * 0.5**6)
    assert lr_of[id(model.text_proj.weight)] == pytest.approx(1e-3)  # new weights: full lr
