"""A DP fine-tune of a text application on synthetic views: the spent (ε, δ) and the cost
against the non-private twin on the same split, in the report, the metrics a tracker
records, and the model card."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from karpa.applications.sentiment import run_sentiment
from karpa.applications.text_config import SentimentConfig
from karpa_models.finetune.privacy_config import PrivacyConfig
from karpa_models.finetune.saved import load_classifier

FAST = dict(
    epochs=4,
    max_steps=24,
    min_steps=12,
    batch_size=16,
    lr=3e-3,
    encoder_lr_scale=1.0,
    patience=4,
    k_shots=(),
    run_baselines=False,
    n_resamples=200,
    curve_resamples=50,
    device="cpu",
)


@pytest.fixture(scope="module")
def report(views_dir, foundation_ckpt, tmp_path_factory):
    cfg = SentimentConfig(**FAST, privacy=PrivacyConfig(enabled=True, noise_multiplier=1.0))
    return run_sentiment(views_dir, foundation_ckpt, cfg, tmp_path_factory.mktemp("dp"))


def test_the_served_model_and_its_ablation_are_private_the_twin_is_not(report):
    assert report.training["pretrained"]["privacy"]["epsilon"] == report.privacy["epsilon"]
    assert "privacy" in report.training["scratch"]  # the gain compares like with like
    assert "privacy" not in report.training["pretrained_non_private"]
    assert report.comparisons["pretrained_non_private"]["kind"] == "reference"
    assert report.model_name == "sentiment-pretrained"


def test_spent_epsilon_delta_and_the_cost_on_the_same_split(report):
    p = report.privacy
    assert 0 < p["epsilon"] < math.inf and p["noise_multiplier"] == 1.0
    assert p["delta"] == pytest.approx(1 / (10 * report.data["train"]))
    assert p["delta_rule"] == "1 / (10 * n_train)"
    for metric in ("macro_f1", "accuracy"):
        cost = p["cost"][metric]
        assert cost["low"] <= cost["estimate"] <= cost["high"]
        assert cost["estimate"] == pytest.approx(
            p["non_private"][metric] - p["private"][metric], abs=1e-9
        )
    # The headline cost is the comparison's paired delta, turned around.
    delta = report.comparisons["pretrained_non_private"]["delta"]
    assert p["cost"]["macro_f1"]["estimate"] == pytest.approx(-delta["estimate"])


def test_epsilon_and_cost_are_tracker_metrics(report):
    flat = report.flat_metrics()
    assert flat["privacy/epsilon"] == pytest.approx(report.privacy["epsilon"])
    assert flat["privacy/delta"] == pytest.approx(report.privacy["delta"])
    assert flat["privacy/cost/accuracy/estimate"] == pytest.approx(
        report.privacy["cost"]["accuracy"]["estimate"]
    )
    assert "privacy/non_private/macro_f1" in flat and "privacy/private/macro_f1" in flat


def test_the_model_card_shows_epsilon_next_to_the_cost(report):
    card = Path(report.artifacts["model_card"]["markdown"]).read_text()
    section = card.split("## Privacy")[1].split("\n## ")[0]
    assert f"| ε spent | {report.privacy['epsilon']:.3f} (rdp accountant" in section
    assert f"| δ | {report.privacy['delta']:.3g} (1 / (10 * n_train)" in section
    cost = report.privacy["cost"]["accuracy"]
    assert f"| accuracy cost of privacy | {cost['estimate']:+.4f}" in section
    assert "text.pos_emb.weight" in section and "what ε covers" in section
    html = Path(report.artifacts["model_card"]["html"]).read_text()
    assert "<h2>Privacy</h2>" in html


def test_the_saved_private_model_predicts(report):
    clf = load_classifier(report.artifacts["model_dir"])
    probs = clf.predict_proba(["ACME shares soar after record profit"])
    assert probs.shape == (1, 3)


def test_a_non_private_run_has_no_privacy_section(views_dir, foundation_ckpt, tmp_path):
    cfg = SentimentConfig(**{**FAST, "run_scratch": False, "max_steps": 4, "min_steps": 2})
    report = run_sentiment(views_dir, foundation_ckpt, cfg, tmp_path)
    assert report.privacy is None
    assert not any(k.startswith("privacy/") for k in report.flat_metrics())
    assert "## Privacy" not in Path(report.artifacts["model_card"]["markdown"]).read_text()
