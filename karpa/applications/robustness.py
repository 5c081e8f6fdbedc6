"""Robustness slices of the applications' models on a bounded, seeded test sample.

Text: the main model's predictions (as served: intent with its out-of-scope threshold) on
the sampled test texts, clean and perturbed. Entity swaps draw their entities from the
data itself (`entity_lexicon`): item categories and attribute values from the items view,
tickers from the news view. Recommendation: the main model's NDCG@10 / HR@10 for the
sampled test users with one history item dropped, and with the history shuffled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from karpa.applications.text_config import TextAppConfig
from karpa.evaluation.perturb import HISTORY_PERTURBATIONS, TEXT_PERTURBATIONS
from karpa.evaluation.ranking import evaluate_ranking, seen_mask
from karpa.evaluation.robustness import history_robustness, sample_rows, text_robustness

logger = logging.getLogger(__name__)

# An attribute whose values are this many or fewer is a closed set of entities (colour,
# material); more and it is free text.
MAX_ENTITY_VALUES = 100


def entity_lexicon(views_dir: Path) -> dict[str, list[str]]:
    """Entity group -> the names the data itself uses: items' categories, each string
    attribute of the items (colour, material, ...), and the news tickers. Missing views
    give no group; a group of fewer than two names cannot be swapped and is left out."""
    views_dir = Path(views_dir)
    groups: dict[str, set[str]] = {}
    items_path = views_dir / "items.parquet"
    if items_path.is_file():
        items = pd.read_parquet(items_path, columns=["category", "attributes"])
        groups["category"] = {str(c) for c in items["category"].dropna()}
        for raw in items["attributes"].dropna():
            try:
                attributes = json.loads(raw) if isinstance(raw, str) else dict(raw)
            except (ValueError, TypeError):
                continue
            for key, value in attributes.items():
                if isinstance(value, str) and value.strip():
                    groups.setdefault(f"attribute:{key}", set()).add(value)
    news_path = views_dir / "news.parquet"
    if news_path.is_file():
        news = pd.read_parquet(news_path, columns=["entities"])
        groups["ticker"] = {str(e) for row in news["entities"].dropna() for e in row}
    return {
        name: sorted(values)
        for name, values in sorted(groups.items())
        if 2 <= len(values) <= MAX_ENTITY_VALUES
    }


def text_robustness_slices(
    texts: Sequence[str],
    y: np.ndarray,
    predict: Callable[[list[str]], np.ndarray],
    macro_f1: Callable[[np.ndarray, np.ndarray], float],
    views_dir: Path,
    cfg: TextAppConfig,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(slice records, protocol) of a text model on at most `cfg.robustness_sample` test
    texts, under `cfg.robustness_perturbations` (all when unset), with the application's
    curve resamples, confidence and seed; nothing when the sample is 0."""
    if cfg.robustness_sample <= 0:
        return [], {}
    n_resamples = cfg.curve_resamples
    rows = sample_rows(len(texts), cfg.robustness_sample, cfg.seed)
    lexicon = entity_lexicon(views_dir)
    kinds = tuple(cfg.robustness_perturbations or TEXT_PERTURBATIONS)
    records = text_robustness(
        [texts[i] for i in rows],
        np.asarray(y, dtype=object)[rows],
        predict,
        macro_f1,
        kinds,
        lexicon,
        n_resamples,
        cfg.confidence,
        cfg.seed,
    )
    protocol = {
        "robustness": f"{len(rows)} of {len(texts)} test texts (seeded sample), clean and "
        f"under {', '.join(kinds)}; seeded per text; labels unchanged; "
        f"{n_resamples} bootstrap resamples",
        "robustness_entities": ", ".join(f"{k} ({len(v)})" for k, v in lexicon.items())
        or "none found in the data: entity swaps leave texts unchanged",
    }
    return records, protocol


def rec_robustness_slices(
    recommender: Any,
    histories: Sequence[Sequence[int]],
    targets: np.ndarray,
    n_items: int,
    exclude_seen: bool,
    sample: int,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(slice records, protocol) of a recommender on at most `sample` test users: full
    ranking, the (perturbed) history excluded as the served model excludes it."""
    if sample <= 0:
        return [], {}
    rows = sample_rows(len(histories), sample, seed)
    targets = np.asarray(targets)[rows]

    def score(hist: list[list[int]]) -> dict[str, np.ndarray]:
        exclude = seen_mask(hist, n_items) if exclude_seen else None
        evaluation = evaluate_ranking(
            recommender.score(hist), targets, ks=(10,), exclude=exclude, excluded_target="miss"
        )
        per_user = evaluation.per_user()
        return {"ndcg@10": per_user["ndcg@10"], "hr@10": per_user["hr@10"]}

    records = history_robustness(
        [histories[i] for i in rows],
        score,
        HISTORY_PERTURBATIONS,
        n_resamples,
        confidence,
        seed,
    )
    protocol = {
        "robustness": f"{len(rows)} of {len(histories)} test users (seeded sample): clean, "
        "one history item dropped (drop_one), history order shuffled (shuffle); full "
        f"ranking; {n_resamples} bootstrap resamples"
    }
    return records, protocol
