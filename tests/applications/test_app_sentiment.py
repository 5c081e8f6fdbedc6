"""Sentiment end to end on synthetic views, and an application run without a foundation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from karpa.applications.sentiment import run_sentiment
from karpa.applications.text_config import SentimentConfig
from karpa_models.finetune.saved import load_classifier

FAST = dict(
    epochs=6,
    max_steps=36,
    min_steps=24,
    batch_size=16,
    lr=3e-3,
    encoder_lr_scale=1.0,
    patience=4,
    curve_epochs=10,
    curve_min_steps=30,
    n_resamples=200,
    curve_resamples=50,
    device="cpu",
)


@pytest.fixture(scope="module")
def report(views_dir, foundation_ckpt, tmp_path_factory):
    return run_sentiment(
        views_dir, foundation_ckpt, SentimentConfig(**FAST), tmp_path_factory.mktemp("sentiment")
    )


def test_headline_is_macro_f1_with_per_class_scores(report):
    h = report.headline
    assert h["metric"] == "macro_f1" and h["low"] <= h["estimate"] <= h["high"]
    assert h["estimate"] == pytest.approx(report.metrics["macro_f1"])
    assert {"f1/positive", "f1/negative", "f1/neutral", "accuracy"} <= set(report.metrics)
    acc = report.intervals["accuracy"]
    assert acc["low"] <= acc["estimate"] <= acc["high"]
    assert report.protocol["class_weighting"] == "inverse class frequency"
    assert report.training["pretrained"]["n_train"] == report.data["train"]


def test_slices_by_class_and_the_learning_curve(report):
    buckets = {r["bucket"] for r in report.slices if r["slice"] == "class"}
    assert buckets == {"positive", "negative", "neutral"}
    assert {r["k"] for r in report.learning_curve} == {2, 4, "all"}
    gain = report.pretraining_gain
    assert gain["metric"] == "macro_f1" and gain["low"] <= gain["estimate"] <= gain["high"]


def test_saved_sentiment_model_predicts_raw_text(report, views_dir):
    clf = load_classifier(report.artifacts["model_dir"])
    assert clf.classes == ["negative", "neutral", "positive"] and clf.oos_threshold is None
    news = pd.read_parquet(views_dir / "news.parquet")
    test = news[news["split"] == "test"]
    pred = clf.predict(test["text"].tolist())
    # The reloaded model reproduces the reported test accuracy on the raw texts.
    assert (pred == test["sentiment"].to_numpy()).mean() == pytest.approx(
        report.metrics["accuracy"]
    )


def test_without_a_foundation_the_scratch_model_is_the_model(views_dir, tmp_path):
    cfg = SentimentConfig(**{**FAST, "k_shots": ()})
    report = run_sentiment(views_dir, None, cfg, tmp_path)
    assert report.model_name == "sentiment-scratch"
    assert set(report.comparisons) == {"tfidf_lr"} and report.pretraining_gain is None
    assert report.learning_curve == []
    json.dumps(report.to_dict())
    assert "learning_curve" not in report.artifacts["plots"]


def test_an_lp_ft_headline_mixed_with_its_start(views_dir, foundation_ckpt, tmp_path):
    # mode probe_full with probe_full_wise: the served model is the mix validation chose,
    # recorded in report.json and named in the card's training line.
    sets = {"k_shots": (), "run_scratch": False, "mode": "probe_full", "probe_full_wise": (0.5,)}
    report = run_sentiment(
        views_dir, foundation_ckpt, SentimentConfig(**{**FAST, **sets}), tmp_path
    )
    info = json.loads((tmp_path / "report.json").read_text())["training"]["pretrained"]
    assert info["mode"] == "probe_full" and set(info["wise"]["grid"]) == {"1.0", "0.5"}
    assert info["wise"]["val"] == max(info["wise"]["grid"].values())
    card = Path(report.artifacts["model_card"]["markdown"]).read_text()
    assert f"mixed with its start at alpha {info['wise']['alpha']:g}" in card


def test_an_lp_ft_headline_souped_from_two_fine_tunes(views_dir, foundation_ckpt, tmp_path):
    # probe_full_soup: two fine-tunes (seeds 0 and 1) made one served model, the greedy
    # soup on validation; report.json and the card's training line say which joined.
    sets = {"k_shots": (), "run_scratch": False, "mode": "probe_full", "probe_full_soup": 2}
    report = run_sentiment(
        views_dir, foundation_ckpt, SentimentConfig(**{**FAST, **sets}), tmp_path
    )
    info = json.loads((tmp_path / "report.json").read_text())["training"]["pretrained"]
    soup = info["soup"]
    assert info["mode"] == "probe_full" and soup["seeds"] == [0, 1]
    assert info["best_val_macro_f1"] >= max(soup["vals"].values())
    card = Path(report.artifacts["model_card"]["markdown"]).read_text()
    kept = ", ".join(map(str, soup["kept"]))
    assert f"a soup of {len(soup['kept'])} of 2 fine-tunes (seeds {kept})" in card


def test_robustness_slices_in_report_card_and_metrics(report, check_text_robustness):
    check_text_robustness(report)
