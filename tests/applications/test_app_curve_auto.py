"""curve_mode auto on a tiny world: every learning-curve point of each encoder records the
recipe chosen on validation and every candidate's validation figure, in report.json, the
tracker's metrics and the model card's protocol line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from karpa.applications.intent import run_intent
from karpa.applications.text_config import IntentConfig
from karpa_models.finetune.config import MODES

FAST = dict(
    epochs=4,
    max_steps=20,
    min_steps=10,
    batch_size=16,
    lr=3e-3,
    encoder_lr_scale=1.0,
    patience=20,
    curve_epochs=2,
    curve_min_steps=6,
    contrastive_steps=4,
    n_resamples=100,
    curve_resamples=30,
    explain_examples=0,
    robustness_sample=0,
    device="cpu",
)


@pytest.fixture(scope="module")
def report(views_dir, foundation_ckpt, tmp_path_factory):
    # Every mode a candidate (the default leaves probe_full out), so each goes through the
    # curve end to end.
    cfg = IntentConfig(**FAST, curve_mode="auto", curve_candidates=MODES, seeds=(0, 1))
    return run_intent(views_dir, foundation_ckpt, cfg, tmp_path_factory.mktemp("intent-auto"))


def test_every_encoder_point_records_its_choice_on_validation(report):
    encoders = [r for r in report.learning_curve if r["model"] != "tfidf_lr"]
    assert {(r["model"], r["k"]) for r in encoders} == {
        (m, k) for m in ("pretrained", "scratch") for k in (2, 4, "all")
    }
    for r in encoders:
        assert set(r["mode_val"]) == set(MODES), r
        assert r["mode"] in MODES
        assert r["mode_val"][r["mode"]] == max(r["mode_val"].values())
        # Chosen on the first subset seed; the other seed reuses the choice.
        assert r["mode_chosen_on_seed"] == 0 and r["seeds"] == (1 if r["k"] == "all" else 2)
        assert all(0.0 <= v <= 1.0 for v in r["mode_val"].values())
    on_disk = json.loads(Path(report.artifacts["report"]).read_text())["learning_curve"]
    assert [r.get("mode") for r in on_disk] == [r.get("mode") for r in report.learning_curve]
    flat = report.flat_metrics()
    for r in encoders:
        for mode in MODES:
            assert f"curve/{r['model']}/k{r['k']}/val/{mode}" in flat


def test_the_choice_is_one_line_of_the_protocol_and_the_card(report):
    line = report.protocol["learning_curve"]
    assert line.startswith("auto: per encoder and k, the best on validation of")
    pre = next(r for r in report.learning_curve if r["model"] == "pretrained" and r["k"] == 2)
    assert f"pretrained: k=2 {pre['mode']}" in line
    card = Path(report.artifacts["model_card"]["markdown"]).read_text()
    assert f"k=2 {pre['mode']}" in card
