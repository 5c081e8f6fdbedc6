"""Model cards for the applications, assembled from what the evaluation produced."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from karpa.applications.privacy_figures import card_rows
from karpa.evaluation.model_card import Comparison, MetricEntry, ModelCard, write_model_card

logger = logging.getLogger(__name__)


def write_card(
    application: str,
    model_name: str,
    summary: str,
    headline: Mapping[str, Any],
    metrics: Mapping[str, float],
    intervals: Mapping[str, Mapping[str, Any]],
    comparisons: Mapping[str, Mapping[str, Any]],
    slices: Sequence[Mapping[str, Any]],
    figures: Mapping[str, Path],
    protocol: Mapping[str, Any],
    data: Mapping[str, Any],
    details: Mapping[str, Any],
    limits: Sequence[str],
    out_dir: Path,
    confidence: float = 0.95,
    privacy: Mapping[str, Any] | None = None,
    explanations: Sequence[Mapping[str, Any]] = (),
) -> dict[str, str]:
    """Write model_card.md and model_card.html into out_dir; returns their paths.

    The headline comes first with its interval; `intervals` adds intervals for other
    metrics; the remaining test metrics follow without one. `privacy` (a DP fine-tune's
    spend and cost, text_privacy.privacy_report) becomes the card's Privacy section.
    """
    entries = [
        MetricEntry(
            name=f"{headline['metric']} (headline)",
            value=headline["estimate"],
            low=headline["low"],
            high=headline["high"],
            protocol=str(headline.get("protocol", "")),
        )
    ]
    for name, ci in intervals.items():
        entries.append(
            MetricEntry(name, ci["estimate"], ci["low"], ci["high"], str(ci.get("protocol", "")))
        )
    shown = {headline["metric"], *intervals}
    entries += [MetricEntry(name, value) for name, value in metrics.items() if name not in shown]
    rows = [
        Comparison(
            model=name,
            kind=comp["kind"],
            metric=headline["metric"],
            value=comp["headline"]["estimate"],
            low=comp["headline"]["low"],
            high=comp["headline"]["high"],
            delta=comp["delta"]["estimate"],
            delta_low=comp["delta"]["low"],
            delta_high=comp["delta"]["high"],
        )
        for name, comp in comparisons.items()
    ]
    card = ModelCard(
        application=application,
        model_name=model_name,
        summary=summary,
        details=dict(details),
        data=dict(data),
        metrics=entries,
        protocol=dict(protocol),
        comparisons=rows,
        slices=list(slices),
        figures={caption: Path(p) for caption, p in figures.items()},
        limits=list(limits),
        confidence=confidence,
        privacy=card_rows(dict(privacy)) if privacy else {},
        explanations=list(explanations),
    )
    paths = write_model_card(card, out_dir)
    return {k: str(v) for k, v in paths.items()}
