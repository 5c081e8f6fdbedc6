"""Plots are written as non-empty PNG files, atomically."""

import numpy as np
import pytest

from karpa.evaluation.plots import (
    CurveSeries,
    confusion_matrix_plot,
    learning_curve_plot,
    reliability_diagram,
    robustness_plot,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    data = path.read_bytes()
    return data.startswith(PNG_MAGIC) and len(data) > 2000


def test_reliability_diagram(tmp_path):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=300)
    y = rng.integers(0, 4, 300)
    path = reliability_diagram(probs, y, tmp_path / "plots" / "reliability.png")
    assert path.exists() and _is_png(path)
    assert [p.name for p in path.parent.iterdir()] == ["reliability.png"]  # no temp left


def test_confusion_matrix(tmp_path):
    y_true = ["a", "b", "c", "oos", "a", "b"]
    y_pred = ["a", "c", "c", "oos", "oos", "b"]
    for normalize in (True, False):
        path = confusion_matrix_plot(
            y_true, y_pred, ["a", "b", "c", "oos"], tmp_path / f"cm_{normalize}.png", normalize
        )
        assert _is_png(path)


def test_learning_curve(tmp_path):
    x = [5, 10, 20, 50]
    series = [
        CurveSeries(
            "pretrained",
            x,
            [0.6, 0.7, 0.8, 0.9],
            [0.55, 0.65, 0.76, 0.88],
            [0.65, 0.75, 0.84, 0.92],
        ),
        CurveSeries("scratch", x, [0.4, 0.5, 0.65, 0.85]),
    ]
    path = learning_curve_plot(series, tmp_path / "curve.png", metric="macro-F1")
    assert _is_png(path)


def _record(bucket, metric, value, low=None, high=None, n=50):
    return {
        "slice": "robustness",
        "bucket": bucket,
        "n": n,
        "metric": metric,
        "value": value,
        "low": low,
        "high": high,
    }


def test_robustness_plot_draws_the_metric_asked_for(tmp_path):
    records = [
        _record("clean", "accuracy", 0.9, 0.85, 0.95),
        _record("clean", "changed", 0.0),
        _record("typo_drop", "accuracy", 0.8, 0.74, 0.86),
        _record("typo_drop", "changed", 0.9),
        _record("casing", "accuracy", 0.88),  # no interval: a dot alone
        {**_record("short", "accuracy", 0.5), "slice": "message_length"},  # another slice
    ]
    path = robustness_plot(records, tmp_path / "robustness.png", "accuracy")
    assert _is_png(path)
    with pytest.raises(ValueError, match="no robustness records of macro_f1"):
        robustness_plot(records, tmp_path / "none.png", "macro_f1")
    assert not (tmp_path / "none.png").exists()
