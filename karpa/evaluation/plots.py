"""Evaluation plots written as PNG files: reliability diagram, confusion matrix, learning
curve, robustness (the metric under each perturbation beside clean).

Figures are built with matplotlib's object API on an Agg canvas, never through pyplot: no
global backend state, no GUI, safe when stages run in threads. Files are written to a
temporary name and renamed, so a crash never leaves a truncated PNG behind.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from sklearn.metrics import confusion_matrix

from karpa.evaluation.classification import calibration_bins
from karpa.evaluation.perturb import CLEAN

logger = logging.getLogger(__name__)

_DPI = 110
# Above this many classes, cell annotations become unreadable and are left out.
_MAX_ANNOTATED_CLASSES = 20


def reliability_diagram(
    probs: np.ndarray,
    y_true: Sequence[int] | np.ndarray,
    path: str | Path,
    n_bins: int = 15,
    title: str = "Reliability diagram",
) -> Path:
    """Accuracy against top-class confidence per equal-width bin, with the ECE in the title
    and the bin counts below. probs: (n, C); y_true: (n,) integer class indices."""
    probs = np.asarray(probs, dtype=float)
    correct = probs.argmax(axis=1) == np.asarray(y_true)
    bins = calibration_bins(probs.max(axis=1), correct, n_bins)
    centers = (bins.edges[:-1] + bins.edges[1:]) / 2
    width = 1.0 / n_bins
    filled = bins.count > 0

    fig = Figure(figsize=(5.5, 6.5))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.bar(
        centers[filled],
        bins.accuracy[filled],
        width=width,
        edgecolor="black",
        color="#4c72b0",
        label="accuracy",
    )
    # The gap to the diagonal is what ECE averages; shading it makes over/under-confidence
    # readable at a glance.
    top.bar(
        centers[filled],
        bins.confidence[filled] - bins.accuracy[filled],
        bottom=bins.accuracy[filled],
        width=width,
        color="#dd8452",
        alpha=0.5,
        edgecolor="#dd8452",
        label="gap to confidence",
    )
    top.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.set_title(f"{title} (ECE = {bins.ece:.3f}, {n_bins} bins)")
    top.legend(loc="upper left", fontsize="small")
    bottom.bar(centers, bins.count, width=width, color="gray", edgecolor="black")
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("confidence (top-class probability)")
    bottom.set_ylabel("examples")
    return _save(fig, path)


def confusion_matrix_plot(
    y_true: Sequence | np.ndarray,
    y_pred: Sequence | np.ndarray,
    labels: Sequence,
    path: str | Path,
    normalize: bool = True,
    title: str = "Confusion matrix",
) -> Path:
    """Heat map of true (rows) against predicted (columns) labels, in the order of `labels`;
    with `normalize` each row shows shares of its true class (the diagonal is recall)."""
    counts = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=list(labels))
    shown = counts.astype(float)
    if normalize:
        totals = shown.sum(axis=1, keepdims=True)
        shown = np.divide(shown, totals, out=np.zeros_like(shown), where=totals > 0)
    n = len(labels)
    size = max(4.0, 0.45 * n + 2.0)
    fig = Figure(figsize=(size + 1.0, size))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), [str(label) for label in labels], rotation=60, ha="right")
    ax.set_yticks(range(n), [str(label) for label in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title + (" (row-normalised)" if normalize else ""))
    if n <= _MAX_ANNOTATED_CLASSES:
        threshold = shown.max() / 2 if shown.size else 0
        for i in range(n):
            for j in range(n):
                text = f"{shown[i, j]:.2f}" if normalize else str(counts[i, j])
                color = "white" if shown[i, j] > threshold else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
    fig.tight_layout()
    return _save(fig, path)


@dataclass(frozen=True)
class CurveSeries:
    """One line of a learning curve: metric value (and optional interval) per number of
    labeled examples per class. All sequences have the same length."""

    name: str
    labels_per_class: Sequence[float]
    value: Sequence[float]
    low: Sequence[float] | None = None
    high: Sequence[float] | None = None


def learning_curve_plot(
    series: Sequence[CurveSeries],
    path: str | Path,
    metric: str = "accuracy",
    title: str = "Learning curve",
) -> Path:
    """Metric against labeled examples per class (log x axis), one line per model (e.g.
    pretrained, scratch, TF-IDF), with shaded confidence bands where given."""
    if not series:
        raise ValueError("a learning curve needs at least one series")
    fig = Figure(figsize=(6.5, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for line in series:
        x = np.asarray(line.labels_per_class, dtype=float)
        y = np.asarray(line.value, dtype=float)
        if x.shape != y.shape:
            raise ValueError(f"{line.name}: {x.shape} x values for {y.shape} y values")
        order = np.argsort(x)
        (drawn,) = ax.plot(x[order], y[order], marker="o", label=line.name)
        if line.low is not None and line.high is not None:
            low = np.asarray(line.low, dtype=float)[order]
            high = np.asarray(line.high, dtype=float)[order]
            ax.fill_between(x[order], low, high, color=drawn.get_color(), alpha=0.2)
    ax.set_xscale("log")
    # Tick at the label budgets actually run, written as plain numbers, not powers of ten.
    budgets = np.unique(np.concatenate([np.asarray(s.labels_per_class, float) for s in series]))
    ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("labeled examples per class")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def robustness_plot(
    records: Sequence[dict],
    path: str | Path,
    metric: str,
    title: str = "Robustness",
    slice_name: str = "robustness",
) -> Path:
    """`metric` on the same test examples clean and under each perturbation: one row per
    bucket of the robustness slice (clean first, as recorded), a dot with its interval, and
    the clean value as a reference line with its band, so a drop reads as the distance to
    the line. records: slice records ({slice, bucket, n, metric, value, low, high})."""
    rows = [r for r in records if r["slice"] == slice_name and r["metric"] == metric]
    if not rows:
        raise ValueError(f"no {slice_name} records of {metric} to plot")
    names = [str(r["bucket"]) for r in rows]
    value = np.array([r["value"] for r in rows], dtype=float)
    # A record without an interval is drawn as a dot alone (zero-length error bar).
    low = np.array([r["value"] if r["low"] is None else r["low"] for r in rows], dtype=float)
    high = np.array([r["value"] if r["high"] is None else r["high"] for r in rows], dtype=float)
    fig = Figure(figsize=(6.5, 1.2 + 0.4 * len(rows)))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]  # (buckets,) first record on top
    clean = next((r for r in rows if r["bucket"] == CLEAN), None)
    if clean is not None:
        ax.axvline(clean["value"], color="0.4", linestyle="--", linewidth=1, label=CLEAN)
        if clean["low"] is not None and clean["high"] is not None:
            ax.axvspan(clean["low"], clean["high"], color="0.85", alpha=0.6)
    ax.errorbar(
        value,
        y,
        xerr=np.vstack([value - low, high - value]),
        fmt="o",
        capsize=3,
        color="tab:blue",
    )
    ax.set_yticks(y, [f"{name} (n={r['n']})" for name, r in zip(names, rows, strict=True)])
    ax.set_xlabel(metric)
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    if clean is not None:
        ax.legend(fontsize="small", loc="lower left")
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=_DPI)
    os.replace(tmp, path)
    logger.info("wrote %s", path)
    return path
