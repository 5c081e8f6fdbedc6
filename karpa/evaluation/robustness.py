"""Robustness slices: the same examples, clean and under each perturbation (perturb.py).

Every perturbation is a bucket of one slice named "robustness", so the records have the
shape of every other slice ({slice, bucket, n, metric, value, low, high}), reach the model
card, the report and MLflow the same way, and the gate treats them as it treats slices.
Text: accuracy (percentile bootstrap interval over the sampled texts), macro-F1 (bootstrap
interval too) and the share of texts the perturbation changed. Recommendation: NDCG@10 and
HR@10 with intervals, and the share of histories changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from karpa.evaluation.bootstrap import bootstrap_metric_ci
from karpa.evaluation.perturb import (
    CLEAN,
    HISTORY_PERTURBATIONS,
    TEXT_PERTURBATIONS,
    Lexicon,
    perturb_histories,
    perturb_texts,
)
from karpa.evaluation.slices import Slicing, slice_metrics

logger = logging.getLogger(__name__)

SLICE = "robustness"
PredictLabels = Callable[[list[str]], np.ndarray]  # texts (n,) -> labels (n,)


def sample_rows(n: int, limit: int, seed: int) -> np.ndarray:
    """Sorted row indices of a seeded sample of at most `limit` of n rows (all if fewer)."""
    if limit <= 0 or n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def text_robustness(
    texts: Sequence[str],
    y: np.ndarray,
    predict: PredictLabels,
    macro_f1: Callable[[np.ndarray, np.ndarray], float],
    kinds: Sequence[str] = TEXT_PERTURBATIONS,
    lexicon: Lexicon | None = None,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Records of slice "robustness": bucket "clean" and one bucket per perturbation in
    `kinds`, each with accuracy, macro_f1 (both with intervals) and changed (share).

    texts, y: (n,) the examples and their labels (the labels are never perturbed);
    predict: texts -> (n,) predicted labels, as the application decides them (intent with
    its out-of-scope threshold); macro_f1(y, pred) as the application computes it.
    """
    started = time.perf_counter()
    y = np.asarray(y, dtype=object)
    variants: dict[str, tuple[list[str], np.ndarray]] = {
        CLEAN: (list(texts), np.zeros(len(texts), dtype=bool))
    }
    for kind in kinds:
        p = perturb_texts(texts, kind, seed, lexicon)
        variants[kind] = (p.texts, p.changed)
    preds = {name: np.asarray(predict(t), dtype=object) for name, (t, _) in variants.items()}
    records = _records(
        variants,
        {n: (preds[n] == y).astype(float) for n in variants},
        "accuracy",
        n_resamples,
        confidence,
        seed,
    )
    for name in variants:
        if n_resamples > 0:
            ci = bootstrap_metric_ci(
                macro_f1, y, preds[name], n_resamples=n_resamples, confidence=confidence, seed=seed
            )
            record = _record(name, len(y), "macro_f1", ci.estimate, ci.low, ci.high)
        else:
            record = _record(name, len(y), "macro_f1", macro_f1(y, preds[name]), None, None)
        records.append(record)
    logger.info(
        "robustness: %d texts x %d perturbations in %.1fs",
        len(y),
        len(kinds),
        time.perf_counter() - started,
    )
    return _ordered(records, list(variants))


def history_robustness(
    histories: Sequence[Sequence[int]],
    score: Callable[[list[list[int]]], dict[str, np.ndarray]],
    kinds: Sequence[str] = HISTORY_PERTURBATIONS,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Records of slice "robustness" for a recommender: bucket "clean" and one per history
    perturbation, each metric that `score` returns (per user, e.g. ndcg@10, hr@10) with an
    interval, and changed (share of histories altered).

    score: histories (U,) -> {metric: (U,) per-user values}, the targets fixed.
    """
    variants: dict[str, tuple[list[list[int]], np.ndarray]] = {
        CLEAN: ([list(map(int, h)) for h in histories], np.zeros(len(histories), dtype=bool))
    }
    for kind in kinds:
        variants[kind] = perturb_histories(histories, kind, seed)
    scores = {name: score(h) for name, (h, _) in variants.items()}
    records: list[dict[str, Any]] = []
    for metric in next(iter(scores.values())):
        part = _records(
            variants,
            {n: scores[n][metric] for n in variants},
            metric,
            n_resamples,
            confidence,
            seed,
            with_changed=not records,
        )
        records += part
    return _ordered(records, list(variants))


def _records(
    variants: dict[str, tuple[Any, np.ndarray]],
    values: dict[str, np.ndarray],
    metric: str,
    n_resamples: int,
    confidence: float,
    seed: int,
    with_changed: bool = True,
) -> list[dict[str, Any]]:
    """Per-variant means of per-example `values` with intervals (slices.slice_metrics on a
    slicing whose buckets are the variants, examples repeated once per variant)."""
    names = list(variants)
    labels = np.concatenate([np.full(len(values[n]), n, dtype=object) for n in names])
    per_example = {metric: np.concatenate([np.asarray(values[n], float) for n in names])}
    if with_changed:
        per_example["changed"] = np.concatenate([variants[n][1].astype(float) for n in names])
    slicing = Slicing(SLICE, labels.astype(str), tuple(names))
    records = slice_metrics(
        slicing, {metric: per_example[metric]}, None, n_resamples, confidence, seed
    )
    if with_changed:
        records += slice_metrics(slicing, {"changed": per_example["changed"]})
    return records


def _record(
    bucket: str, n: int, metric: str, value: float, low: float | None, high: float | None
) -> dict[str, Any]:
    return {
        "slice": SLICE,
        "bucket": bucket,
        "n": int(n),
        "metric": metric,
        "value": float(value),
        "low": None if low is None else float(low),
        "high": None if high is None else float(high),
    }


def _ordered(records: list[dict[str, Any]], buckets: list[str]) -> list[dict[str, Any]]:
    """Bucket by bucket (clean first), metrics in the order they were computed."""
    rank = {b: i for i, b in enumerate(buckets)}
    return sorted(records, key=lambda r: rank[r["bucket"]])


def gate_slices(records: Sequence[dict[str, Any]], metric: str) -> dict[str, tuple[float, int]]:
    """The gate's view of robustness records: "robust:<bucket>" -> (value of `metric`, n)."""
    return {
        f"robust:{r['bucket']}": (float(r["value"]), int(r["n"]))
        for r in records
        if r["slice"] == SLICE and r["metric"] == metric and r["bucket"] != CLEAN
    }
