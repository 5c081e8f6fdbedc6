"""The headline table: every figure with its interval, the curve with its gain."""

from __future__ import annotations

from karpa.summary import app_rows


def _ci(estimate: float, low: float, high: float) -> dict:
    return {"estimate": estimate, "low": low, "high": high}


def test_rows_carry_intervals_for_models_baselines_gain_and_the_curve():
    report = {
        "application": "intent",
        "headline": {"metric": "accuracy", "protocol": "test split", **_ci(0.85, 0.82, 0.88)},
        "comparisons": {
            "scratch": {
                "kind": "ablation",
                "headline": _ci(0.80, 0.77, 0.83),
                "delta": _ci(0.05, 0.01, 0.09),
            },
            "tfidf_lr": {"kind": "baseline", "headline": _ci(0.9, 0.88, 0.92)},
        },
        "pretraining_gain": _ci(0.05, 0.01, 0.09),
        "learning_curve": [
            {
                "model": "pretrained",
                "k": 10,
                "value": 0.33,
                "low": 0.30,
                "high": 0.36,
                "gain": _ci(0.12, 0.09, 0.15),
            },
            {"model": "scratch", "k": 10, "value": 0.21, "low": 0.18, "high": 0.24},
            {"model": "pretrained", "k": "all", "value": 0.85, "low": 0.82, "high": 0.88},
        ],
    }
    assert app_rows(report) == [
        "intent: accuracy, test split",
        "  karpa (pretrained)     0.850 [0.820, 0.880]",
        "  scratch (ablation)     0.800 [0.770, 0.830]   karpa − it +0.050 [+0.010, +0.090]",
        "  tfidf_lr (baseline)    0.900 [0.880, 0.920]",
        "  pretraining gain       +0.050 [+0.010, +0.090]",
        "  10 labels/class: pretrained 0.330 [0.300, 0.360], scratch 0.210 [0.180, 0.240]; "
        "gain +0.120 [+0.090, +0.150]",
    ]


def test_the_served_model_is_named_as_the_report_names_it():
    """The recommender serves the blend of its sequence model and EASE: the table says so
    rather than calling it the pretrained model."""
    head = {"metric": "ndcg@10", "estimate": 0.06, "low": 0.05, "high": 0.07}
    blend = {"application": "recommendation", "headline": {**head, "model": "karpa"}}
    assert app_rows(blend)[1].startswith("  karpa (seq + EASE)     0.060")
    plain = {"application": "intent", "headline": {**head, "model": "pretrained"}}
    assert app_rows(plain)[1].startswith("  karpa (pretrained)     0.060")
