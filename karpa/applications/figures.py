"""The one figure the evaluation library does not draw: models side by side on the
headline metric, with their bootstrap intervals (matplotlib's object API, Agg canvas)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

_COLOURS = {"model": "#4c72b0", "ablation": "#dd8452", "baseline": "#8c8c8c"}


def comparison_plot(
    rows: Sequence[dict],
    path: str | Path,
    metric: str,
    title: str,
) -> Path:
    """Horizontal bars, one per model: rows are {"model", "kind", "value", "low", "high"};
    the colour says whether it is the model, the ablation or a baseline."""
    if not rows:
        raise ValueError("a comparison needs at least one model")
    names = [r["model"] for r in rows]
    values = np.array([r["value"] for r in rows], dtype=float)
    low = np.array([r["low"] if r["low"] is not None else r["value"] for r in rows], dtype=float)
    high = np.array([r["high"] if r["high"] is not None else r["value"] for r in rows], float)
    fig = Figure(figsize=(6.5, 0.55 * len(rows) + 1.6))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    colours = [_COLOURS.get(r["kind"], "#4c72b0") for r in rows]
    errors = np.vstack([np.clip(values - low, 0, None), np.clip(high - values, 0, None)])
    ax.barh(y, values, xerr=errors, color=colours, capsize=4, edgecolor="black")
    for yi, v, hi in zip(y, values, high, strict=True):
        ax.text(max(v, hi), yi, f"  {v:.3f}", va="center", ha="left", fontsize=8)
    ax.set_yticks(y, names)
    ax.set_xlabel(metric)
    # Scaled to the values (not to 1): a recommender's NDCG@10 of 0.1 must stay readable.
    ax.set_xlim(0, max(float(np.nanmax(high)), 1e-6) * 1.3)
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=110)
    os.replace(tmp, path)
    logger.info("wrote %s", path)
    return path


def comparison_rows(main: str, headline: dict, comparisons: dict[str, dict]) -> list[dict]:
    """The main model and every comparison as comparison_plot rows."""
    rows = [
        {
            "model": main,
            "kind": "model",
            "value": headline["estimate"],
            "low": headline["low"],
            "high": headline["high"],
        }
    ]
    for name, comp in comparisons.items():
        ci = comp["headline"]
        rows.append(
            {
                "model": name,
                "kind": comp["kind"],
                "value": ci["estimate"],
                "low": ci["low"],
                "high": ci["high"],
            }
        )
    return rows
