"""curve_mode auto: each encoder's few-label recipe is the best on validation, whatever test
would have preferred; the choice is recorded per curve point (hand-made runs, no training)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import karpa.applications.curve as curve_module
import karpa.applications.curve_modes as curve_modes
from karpa.applications.curve import learning_curve
from karpa.applications.curve_modes import (
    choose_mode,
    curve_protocol,
    headline_reuse,
    on_validation,
    validation_metric,
)
from karpa.applications.data import TextSplit, TextTask
from karpa.applications.intent import intent_scorer
from karpa.applications.report import AppReport
from karpa.applications.sentiment import sentiment_scorer
from karpa.applications.text_config import IntentConfig, SentimentConfig
from karpa.applications.text_runs import TFIDF, TextRun
from karpa.evaluation.classification import accuracy
from karpa.summary import app_rows
from karpa_models.finetune.privacy_config import PrivacyConfig

CLASSES = ["a", "b"]
RIGHT = np.array([[0.9, 0.1], [0.1, 0.9], [0.9, 0.1], [0.1, 0.9]])  # for labels a b a b
WRONG = RIGHT[:, ::-1]
HALF = np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.9, 0.1]])
# (encoder, mode) -> (validation probabilities, test probabilities). The pretrained
# encoder's linear probe is right on validation and wrong on test, its full fine-tune the
# reverse: test would prefer full, validation must choose the probe. Scratch is best on
# validation with the contrastive probe.
PROBS = {
    ("pretrained", "linear_probe"): (RIGHT, WRONG),
    ("pretrained", "contrastive_probe"): (HALF, HALF),
    ("pretrained", "full"): (WRONG, RIGHT),
    ("scratch", "linear_probe"): (WRONG, RIGHT),
    ("scratch", "contrastive_probe"): (RIGHT, WRONG),
    ("scratch", "full"): (HALF, RIGHT),
}


def _split(labels, prefix):
    return TextSplit(
        ids=[f"{prefix}{i}" for i in range(len(labels))],
        texts=[f"text {prefix}{i}" for i in range(len(labels))],
        labels=np.asarray(labels, dtype=object),
    )


def _task() -> TextTask:
    labels = ["a", "b", "a", "b"]
    return TextTask(
        name="toy",
        classes=CLASSES,
        train=_split(labels * 2, "tr"),
        val=_split(labels, "va"),
        test=_split(labels, "te"),
        shots={(2, 0): _split(labels, "s0"), (2, 1): _split(labels, "s1")},
        n_test_total=4,
    )


def _run(name, mode):
    val, test = PROBS[(name, mode)]
    return TextRun(name, "model", val, test, SimpleNamespace(), {"mode": mode})


@pytest.fixture
def fits(monkeypatch):
    """fit_models replaced by the hand-made runs; records (prefix, encoder, mode) per fit."""
    calls = []

    def fake_fit_models(task, split, encoders, cfg, with_tfidf, features=None, *a, prefix="", **kw):
        runs = []
        for enc in encoders:
            calls.append((prefix, enc.name, cfg.mode))
            runs.append(_run(enc.name, cfg.mode))
        if with_tfidf:
            runs.append(TextRun(TFIDF, "baseline", HALF, HALF))
        return runs

    monkeypatch.setattr(curve_modes, "fit_models", fake_fit_models)
    monkeypatch.setattr(curve_module, "fit_models", fake_fit_models)
    return calls


def _curve(cfg, full_runs=()):
    task = _task()
    encoders = [SimpleNamespace(name="pretrained"), SimpleNamespace(name="scratch")]
    return learning_curve(
        task,
        encoders,
        cfg,
        sentiment_scorer(task),
        "accuracy",
        accuracy,
        {},
        full_runs,
        val_metric=validation_metric(
            sentiment_scorer(on_validation(task)), accuracy, task.val.labels
        ),
    )


def test_the_best_mode_on_validation_is_chosen_even_where_test_prefers_another(fits):
    cfg = SentimentConfig(curve_mode="auto", curve_resamples=20, device="cpu")
    records = _curve(cfg)
    by = {(r["model"], r["k"]): r for r in records}
    pre, scratch = by[("pretrained", 2)], by[("scratch", 2)]
    assert pre["mode"] == "linear_probe"
    assert pre["mode_val"] == {"linear_probe": 1.0, "contrastive_probe": 0.5, "full": 0.0}
    assert pre["value"] == 0.0  # the probe's test accuracy: full (1.0 on test) lost
    # The ablation gets the same procedure, with its own choice.
    assert scratch["mode"] == "contrastive_probe" and scratch["value"] == 0.0
    assert scratch["mode_val"]["contrastive_probe"] == 1.0
    assert pre["mode_chosen_on_seed"] == 0 and pre["seeds"] == 2
    assert by[(TFIDF, 2)]["mode"] == "tfidf" and "mode_val" not in by[(TFIDF, 2)]
    # Every candidate on the first seed, only the chosen recipe on the second.
    seed0 = sorted((e, m) for p, e, m in fits if p.startswith("curve/k2/s0/"))
    seed1 = sorted((e, m) for p, e, m in fits if p.startswith("curve/k2/s1/"))
    assert seed0 == sorted(k for k in PROBS)
    assert seed1 == [("pretrained", "linear_probe"), ("scratch", "contrastive_probe")]


def test_the_choice_is_in_the_flat_metrics_protocol_and_summary(fits):
    cfg = SentimentConfig(curve_mode="auto", curve_resamples=20, device="cpu")
    records = _curve(cfg)
    flat = AppReport(
        application="toy",
        model_name="toy-pretrained",
        headline={"metric": "accuracy", "estimate": 0.5, "low": 0.4, "high": 0.6},
        metrics={},
        intervals={},
        comparisons={},
        pretraining_gain=None,
        learning_curve=records,
    ).flat_metrics()
    assert flat["curve/pretrained/k2/val/linear_probe"] == 1.0
    assert flat["curve/scratch/k2/val/full"] == 0.5
    line = curve_protocol(cfg, records)
    assert "pretrained: k=2 linear_probe, k=all linear_probe" in line
    assert "scratch: k=2 contrastive_probe" in line
    rows = app_rows(
        {
            "application": "toy",
            "headline": {"metric": "accuracy", "estimate": 0.5, "low": 0.4, "high": 0.6},
            "learning_curve": records,
        }
    )
    assert any("pretrained 0.000" in r and "(linear_probe)" in r for r in rows)
    fixed = SentimentConfig(
        curve_mode="linear_probe", curve_resamples=20, device="cpu", self_training_rounds=0
    )
    assert curve_protocol(fixed, []) == "linear_probe per k-shot subset; seeds (0,)"


def test_the_headline_run_is_the_full_train_sets_candidate_for_its_mode(fits):
    cfg = SentimentConfig(curve_mode="auto", curve_resamples=20, device="cpu")
    headline = [_run("pretrained", "full"), _run("scratch", "full")]
    records = _curve(cfg, headline)
    assert not [c for c in fits if c[0].startswith("curve/kall/") and c[2] == "full"]
    by = {(r["model"], r["k"]): r for r in records}
    assert by[("scratch", "all")]["mode_val"]["full"] == 0.5  # the headline run, scored
    private = SentimentConfig(
        curve_mode="auto", privacy=PrivacyConfig(enabled=True, noise_multiplier=1.0)
    )
    assert headline_reuse(headline, private) == {}  # a DP run is no curve candidate
    assert set(headline_reuse(headline, cfg)) == {("pretrained", "full"), ("scratch", "full")}


def test_a_fixed_curve_mode_fits_that_mode_only(fits):
    records = _curve(SentimentConfig(curve_mode="full", curve_resamples=20, device="cpu"))
    assert {m for _, _, m in fits} == {"full"}
    assert all("mode_val" not in r for r in records)
    assert {r["mode"] for r in records if r["model"] != TFIDF} == {"full"}


def test_intent_is_scored_on_validation_with_a_threshold_chosen_there():
    """The validation figure is accuracy with out-of-scope, the threshold chosen on the
    validation split; test probabilities and labels play no part."""
    task = TextTask(
        name="intent",
        classes=CLASSES,
        train=_split(["a", "b"], "tr"),
        val=_split(["a", "b", "oos", "a"], "va"),
        test=_split(["oos", "oos", "oos", "oos"], "te"),
    )
    cfg = IntentConfig(device="cpu")
    score = validation_metric(intent_scorer(on_validation(task), cfg), accuracy, task.val.labels)
    # The oos message has a low top probability: a threshold between 0.6 and 0.9 is right.
    val = np.array([[0.95, 0.05], [0.1, 0.9], [0.6, 0.4], [0.92, 0.08]])
    run = TextRun("pretrained", "model", val, RIGHT)
    assert score(run) == 1.0
    assert score(TextRun("pretrained", "model", val, WRONG * 0 + 0.5)) == 1.0


def test_ties_go_to_the_first_candidate_and_nan_never_wins():
    order = ["linear_probe", "contrastive_probe", "full"]
    assert choose_mode({"linear_probe": 0.5, "contrastive_probe": 0.5, "full": 0.4}, order) == (
        "linear_probe"
    )
    assert choose_mode({"linear_probe": np.nan, "contrastive_probe": 0.1, "full": 0.2}, order) == (
        "full"
    )


def test_auto_without_a_validation_metric_is_refused(fits):
    task = _task()
    with pytest.raises(ValueError, match="validation metric"):
        learning_curve(
            task,
            [SimpleNamespace(name="pretrained")],
            SentimentConfig(curve_mode="auto"),
            sentiment_scorer(task),
            "accuracy",
            accuracy,
            {},
        )


def test_a_self_trained_probe_records_its_round_and_the_protocol_says_so(fits, monkeypatch):
    def fake(task, split, encoders, cfg, with_tfidf, features=None, *a, prefix="", **kw):
        runs = []
        for enc in encoders:
            run = _run(enc.name, cfg.mode)
            if cfg.mode != "full":
                run.train_info["self_training"] = {"round": 2 if "s1" in prefix else 1}
            runs.append(run)
        return runs + ([TextRun(TFIDF, "baseline", HALF, HALF)] if with_tfidf else [])

    monkeypatch.setattr(curve_modes, "fit_models", fake)
    # The round is kept by the application's own validation figure, given as a function
    # of validation probabilities: the same figure the recipe is chosen by.
    score = curve_modes.probs_score(
        validation_metric(sentiment_scorer(on_validation(_task())), accuracy, _task().val.labels)
    )
    assert score(RIGHT) == 1.0 and score(WRONG) == 0.0
    cfg = SentimentConfig(
        curve_mode="auto", curve_resamples=20, device="cpu", self_training_rounds=3
    )
    by = {(r["model"], r["k"]): r for r in _curve(cfg)}
    # The pretrained probe self-trained on both seeds; the full fine-tune never does.
    assert by[("pretrained", 2)]["self_training_rounds"] == [1, 2]
    assert "self_training_rounds" not in by[(TFIDF, 2)]
    line = curve_protocol(cfg, list(by.values()))
    assert (
        "probes self-train on up to 4000 unlabeled training texts (3 rounds, round r adding "
        "the most confident r x 0.33 of the texts predicted for each class" in line
    )
    full = SentimentConfig(curve_mode="full", self_training_rounds=3)
    assert "self-train" not in curve_protocol(full, [])
    off = SentimentConfig(curve_mode="auto", self_training_rounds=0)
    assert "self-train" not in curve_protocol(off, [])
