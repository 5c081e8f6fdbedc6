"""Coverage: how much of the data lines up across modalities, and whether that is enough.

The figures go to MLflow as metrics and into a self-contained HTML report; thresholds from
the config turn a shortfall into a stop with one sentence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from karpa.align.splits import TEST, TRAIN, VAL
from karpa.html_report import render


def _share(mask: pd.Series) -> float:
    return float(mask.mean()) if len(mask) else 0.0


def coverage(
    items: pd.DataFrame,
    pairs: pd.DataFrame,
    images_in: int,
    sequences: pd.DataFrame,
    messages: pd.DataFrame,
    news: pd.DataFrame,
    orphans: dict[str, int],
) -> dict[str, float]:
    """Flat `name -> number` figures (MLflow metric names)."""
    desc = items["text"].str.len() > items["title"].fillna("").str.len() + 8
    lengths = sequences["n_interactions"].to_numpy() if len(sequences) else np.zeros(1)
    out: dict[str, float] = {
        "items.count": len(items),
        "items.share_with_text": _share(desc),
        "items.share_with_image": _share(items["has_image"]),
        "items.share_with_events": _share(items["n_events"] > 0),
        "images.pairs": len(pairs),
        "images.heldout_pairs": int((pairs["split"] == "heldout").sum()),
        "images.orphan_or_undecodable": images_in - len(pairs),
        "users.count": len(sequences),
        "users.evaluable": int(sequences["test_item"].notna().sum()),
        "sequences.length_p50": float(np.percentile(lengths, 50)),
        "sequences.length_p90": float(np.percentile(lengths, 90)),
        "sequences.length_max": float(lengths.max()),
    }
    out.update({f"orphans.{k}": v for k, v in orphans.items()})
    for name, frame, label in (("messages", messages, "intent"), ("news", news, "sentiment")):
        labeled = frame[label].notna()
        out[f"{name}.count"] = len(frame)
        out[f"{name}.share_labeled"] = _share(labeled)
        for split in (TRAIN, VAL, TEST):
            out[f"{name}.{split}.labeled"] = int((labeled & (frame["split"] == split)).sum())
        for value, count in frame.loc[labeled, label].value_counts().sort_index().items():
            out[f"{name}.label.{value}"] = int(count)
    # map(len), not .str.len(): an empty list column has no string dtype to dispatch on.
    out["messages.share_with_recent_items"] = _share(messages["recent_items"].map(len) > 0)
    out["news.share_with_categories"] = _share(news["categories"].map(len) > 0)
    return out


def check_thresholds(figures: dict[str, float], minimums: dict[str, float]) -> str | None:
    """One sentence naming the first figure below its configured minimum, or None."""
    for name, minimum in minimums.items():
        value = figures.get(name)
        if value is None:
            continue
        if value < minimum:
            pretty = f"{value:.1%}" if minimum <= 1 else f"{value:,.0f}"
            need = f"{minimum:.1%}" if minimum <= 1 else f"{minimum:,.0f}"
            gap = f"{minimum - value:.1%}" if minimum <= 1 else f"{minimum - value:,.0f}"
            return (
                f"align: coverage {name} is {pretty}, below the minimum {need} "
                f"(short by {gap}); see align.min_coverage in the config"
            )
    return None


def render_html(figures: dict[str, float], minimums: dict[str, float], title: str) -> str:
    """A self-contained page (inline styles, no scripts, no network)."""
    groups: dict[str, list[dict[str, object]]] = {}
    for name, value in figures.items():
        minimum = minimums.get(name)
        groups.setdefault(name.split(".")[0], []).append(
            {
                "name": name,
                "shown": f"{value:.3f}"
                if isinstance(value, float) and value < 1
                else f"{value:,.0f}",
                "bad": minimum is not None and value < minimum,
                "minimum": "" if minimum is None else minimum,
            }
        )
    return render("karpa.align", "coverage.html.j2", title=title, groups=groups)
