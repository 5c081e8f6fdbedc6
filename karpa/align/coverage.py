"""Coverage: how much of the data lines up across modalities, and whether that is enough.

The figures go to MLflow as metrics and into a self-contained HTML report; thresholds from
the config turn a shortfall into a stop with one sentence.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from karpa.align.splits import TEST, TRAIN, VAL


def _share(mask: pd.Series) -> float:
    return float(mask.mean()) if len(mask) else 0.0


def coverage(
    items: pd.DataFrame, pairs: pd.DataFrame, images_in: int, sequences: pd.DataFrame,
    messages: pd.DataFrame, news: pd.DataFrame, orphans: dict[str, int],
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
            return (f"align: coverage {name} is {pretty}, below the minimum {need} "
                    f"(short by {gap}); see align.min_coverage in the config")
    return None


CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px}
th{background:#f4f4f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b00;font-weight:bold}"""


def render_html(figures: dict[str, float], minimums: dict[str, float], title: str) -> str:
    """A self-contained page (inline styles, no scripts, no network)."""
    groups: dict[str, list[tuple[str, float]]] = {}
    for name, value in figures.items():
        groups.setdefault(name.split(".")[0], []).append((name, value))
    body = [f"<h1>{html.escape(title)}</h1>"]
    for group, rows in groups.items():
        body.append(f"<h2>{html.escape(group)}</h2><table><tr><th>figure</th><th>value</th>"
                    "<th>minimum</th></tr>")
        for name, value in rows:
            minimum = minimums.get(name)
            bad = minimum is not None and value < minimum
            shown = f"{value:.3f}" if isinstance(value, float) and value < 1 else f"{value:,.0f}"
            body.append(
                f"<tr><td>{html.escape(name)}</td><td class='n{' bad' if bad else ''}'>{shown}"
                f"</td><td class='n'>{'' if minimum is None else minimum}</td></tr>"
            )
        body.append("</table>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>")
