"""Faithfulness of token attributions: the deletion test's summary and plot.

The curves (karpa_models/explain/deletion.py) give, per test text, the probability of the
predicted class after removing its k most-attributed tokens and after removing k random
ones. The area between them, per removed token, is averaged over texts with a bootstrap
interval over texts: above zero means the attributions find tokens the model relies on
more than chance does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from karpa.evaluation.bootstrap import bootstrap_ci
from karpa.evaluation.plots import _save


def deletion_summary(
    top: np.ndarray,
    random: np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """top, random (N, K + 1) -> {"area": interval dict, "top_curve", "random_curve",
    "n_examples", "max_k"}; area = mean over texts of mean_k>=1 (random - top)."""
    top, random = np.asarray(top, dtype=np.float64), np.asarray(random, dtype=np.float64)
    if top.shape != random.shape or top.ndim != 2 or top.shape[1] < 2:
        raise ValueError(f"curves must be equal (N, K + 1) arrays, got {top.shape}, {random.shape}")
    per_example = (random[:, 1:] - top[:, 1:]).mean(axis=1)  # (N,)
    area = bootstrap_ci(per_example, n_resamples, confidence, seed)
    return {
        "area": {
            "metric": "deletion_area",
            "protocol": "mean over test texts of (random - attributed) predicted-class "
            f"probability, averaged over k = 1..{top.shape[1] - 1} removed tokens",
            **area.to_dict(),
        },
        "top_curve": top.mean(axis=0).tolist(),
        "random_curve": random.mean(axis=0).tolist(),
        "n_examples": int(top.shape[0]),
        "max_k": int(top.shape[1] - 1),
    }


def deletion_plot(summary: dict[str, Any], path: str | Path, title: str) -> Path:
    """Both mean curves over k, the area between them shaded, the interval in the legend."""
    top, random = np.asarray(summary["top_curve"]), np.asarray(summary["random_curve"])
    k = np.arange(len(top))
    area = summary["area"]
    fig = Figure(figsize=(5.5, 3.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(k, random, marker="o", label="k random tokens removed")
    ax.plot(k, top, marker="o", label="k most-attributed tokens removed")
    ax.fill_between(
        k,
        top,
        random,
        alpha=0.2,
        label=f"area {area['estimate']:.3f} [{area['low']:.3f}, {area['high']:.3f}]",
    )
    ax.set_xlabel("tokens removed (k)")
    ax.set_ylabel("probability of the predicted class")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(k)
    ax.set_title(f"{title} ({summary['n_examples']} test texts)", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return _save(fig, path)
