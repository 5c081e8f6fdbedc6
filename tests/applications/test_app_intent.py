"""Intent routing end to end on synthetic views: report, artifacts, saved model, signal."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from karpa.applications.intent import run_intent
from karpa.applications.report import AppReport
from karpa.applications.text_config import IntentConfig
from karpa_models.finetune.saved import load_classifier

MLFLOW_NAME = re.compile(r"^[/\w.\- :]*$")  # what MLflow accepts as a metric name
FAST = dict(
    epochs=12,
    max_steps=80,
    min_steps=40,
    batch_size=16,
    lr=3e-3,
    encoder_lr_scale=1.0,
    patience=20,  # train all 80 steps: a confident model makes the OOS threshold stable
    curve_epochs=10,
    curve_min_steps=30,
    n_resamples=200,
    curve_resamples=50,
    device="cpu",
)


@pytest.fixture(scope="module")
def report(views_dir, foundation_ckpt, tmp_path_factory) -> AppReport:
    out = tmp_path_factory.mktemp("intent")
    seen = []
    rep = run_intent(
        views_dir,
        foundation_ckpt,
        IntentConfig(**FAST),
        out,
        on_metrics=lambda m, s: seen.append((s, m)),
    )
    rep.streamed = seen  # for the callback test below
    return rep


def test_report_layout_and_intervals(report):
    d = report.to_dict()
    json.dumps(d)  # JSON-serialisable as returned
    for key in (
        "application",
        "model_name",
        "headline",
        "metrics",
        "intervals",
        "comparisons",
        "pretraining_gain",
        "learning_curve",
        "slices",
        "artifacts",
        "protocol",
        "data",
        "training",
        "timings",
    ):
        assert key in d, key
    assert report.model_name == "intent-pretrained"
    h = report.headline
    assert h["metric"] == "accuracy" and h["low"] <= h["estimate"] <= h["high"]
    assert h["estimate"] == pytest.approx(report.metrics["accuracy"])
    for name in ("oos_recall", "oos_precision", "macro_f1", "ece", "oos_threshold"):
        assert name in report.metrics
    assert set(report.comparisons) == {"scratch", "tfidf_lr"}
    assert report.comparisons["scratch"]["kind"] == "ablation"
    assert report.comparisons["tfidf_lr"]["kind"] == "baseline"
    gain = report.pretraining_gain
    assert gain["low"] <= gain["estimate"] <= gain["high"]
    assert gain == report.comparisons["scratch"]["delta"]
    assert math.isclose(
        gain["estimate"],
        h["estimate"] - report.comparisons["scratch"]["headline"]["estimate"],
        abs_tol=1e-9,
    )
    flat = report.flat_metrics()
    assert all(math.isfinite(v) for v in flat.values()) and "gain/estimate" in flat
    assert all(MLFLOW_NAME.match(k) for k in flat), [k for k in flat if not MLFLOW_NAME.match(k)]


def test_learning_curve_covers_every_k_and_model(report):
    points = {(r["model"], r["k"]) for r in report.learning_curve}
    assert points == {(m, k) for m in ("pretrained", "scratch", "tfidf_lr") for k in (2, 4, "all")}
    for r in report.learning_curve:
        assert r["low"] <= r["value"] <= r["high"]
        assert r["seeds"] == 1  # seeds=(0,) by default; the full set is one run
    # Pretraining gain per labels-per-class: pretrained minus scratch, with its interval.
    by = {(r["model"], r["k"]): r for r in report.learning_curve}
    flat = report.flat_metrics()
    for k in (2, 4, "all"):
        gain = by[("pretrained", k)]["gain"]
        assert gain["estimate"] == pytest.approx(
            by[("pretrained", k)]["value"] - by[("scratch", k)]["value"]
        )
        assert gain["low"] <= gain["estimate"] <= gain["high"]
        assert flat[f"gain/k{k}/estimate"] == pytest.approx(gain["estimate"])
    assert all("gain" not in r for r in report.learning_curve if r["model"] != "pretrained")


def test_artifacts_exist_and_the_saved_model_predicts(report):
    art = report.artifacts
    for name in ("learning_curve", "confusion_matrix", "comparison", "reliability"):
        assert art["plots"][name].endswith(".png")
        assert Path(art["plots"][name]).read_bytes()[:4] == b"\x89PNG"
    html = Path(art["model_card"]["html"]).read_text()
    assert "data:image/png;base64," in html and "scratch" in html
    assert json.loads(Path(art["report"]).read_text())["headline"]["metric"] == "accuracy"
    clf = load_classifier(art["model_dir"])
    assert clf.oos_threshold == pytest.approx(report.metrics["oos_threshold"])
    probs = clf.predict_proba(["i need a refund please", "what is the weather"])
    assert probs.shape == (2, 3)
    assert set(clf.predict(["my parcel is late"])) <= {"refund", "delivery", "login", "oos"}


def test_every_model_is_scored_on_the_same_test_messages(report, views_dir):
    test = pd.read_parquet(views_dir / "messages.parquet")
    test = test[(test["split"] == "test") & test["intent"].notna()]
    assert report.data["test"] == len(test)
    assert report.data["test_oos"] == int((test["intent"] == "oos").sum())
    by_model = {}
    for r in report.slices:
        if r["slice"] == "message_length":  # robustness slices score the main model alone
            by_model.setdefault(r["metric"], {})[r["bucket"]] = r["n"]
    assert by_model["accuracy"] == by_model["accuracy/scratch"] == by_model["accuracy/tfidf_lr"]
    assert sum(by_model["accuracy"].values()) == len(test)


def test_the_classifier_learns_the_intents(report, views_dir):
    test = pd.read_parquet(views_dir / "messages.parquet")
    test = test[(test["split"] == "test") & test["intent"].notna()]
    majority = test["intent"].value_counts(normalize=True).max()
    assert report.metrics["accuracy"] > majority + 0.3, (report.metrics, majority)
    # The saved model's top class on in-scope messages, threshold aside.
    clf = load_classifier(report.artifacts["model_dir"])
    in_scope = test[test["intent"] != "oos"]
    top = np.asarray(clf.classes)[clf.predict_proba(in_scope["text"].tolist()).argmax(1)]
    assert (top == in_scope["intent"].to_numpy()).mean() > 0.8


def test_training_progress_is_streamed(report):
    names = set().union(*(m for _, m in report.streamed))
    assert {"intent/pretrained/train_loss", "intent/pretrained/val_macro_f1"} <= names
    assert {"intent/scratch/val_macro_f1"} <= names


def test_robustness_slices_in_report_card_and_metrics(report, check_text_robustness):
    check_text_robustness(report)


def test_an_lp_ft_headline_that_also_trains_on_pseudo_labeled_messages(
    views_dir, foundation_ckpt, tmp_path
):
    # probe_full_pseudo: the headline fine-tune reads the training split's unlabeled
    # messages as its probe labels them, recorded in report.json and the card's training
    # line; probe_full_contrastive: its encoder was first tuned contrastively, said there too.
    sets = {"k_shots": (), "run_scratch": False, "mode": "probe_full", "probe_full_pseudo": 0.5}
    sets |= {"probe_full_contrastive": True}
    report = run_intent(views_dir, foundation_ckpt, IntentConfig(**{**FAST, **sets}), tmp_path)
    info = json.loads((tmp_path / "report.json").read_text())["training"]["pretrained"]
    added = info["pseudo_labeled"]["added"]
    # 24 of the fixture's 120 training messages carry no intent; the confident half of
    # each class the probe predicts joins the fine-tune (rounded up per class).
    assert info["mode"] == "probe_full" and 12 <= added <= 15
    assert info["n_train"] == 96 + added
    card = Path(report.artifacts["model_card"]["markdown"]).read_text()
    assert f"{added} pseudo-labeled texts beside the labeled" in card
    first, last = info["probe"]["contrastive_loss"]
    assert f"after contrastive tuning (loss {first:.3f} to {last:.3f})" in card
