"""Metrics by slice, as tidy records (one row per slice, bucket and metric).

A `Slicing` assigns every evaluated example (a message, or a user's held-out target) to
one bucket. The bucket helpers below cover the slices the promotion gate watches: message
length, class, item popularity, cold-start items and history length. `slice_metrics` then
averages per-example metric values within each bucket, optionally with bootstrap intervals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from scipy.stats import rankdata

from karpa.evaluation.bootstrap import bootstrap_ci

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slicing:
    """A named partition of n examples: labels (n,) holds each example's bucket name;
    order lists the bucket names in display order."""

    name: str
    labels: np.ndarray
    order: tuple[str, ...]


def integer_buckets(values: Sequence[int] | np.ndarray, edges: Sequence[int], name: str) -> Slicing:
    """Bucket (n,) integers by increasing inclusive upper `edges`.

    edges (5, 10) gives buckets "<=5", "6-10", ">10".
    """
    values = np.asarray(values)
    edges = [int(e) for e in edges]
    if not edges or any(b <= a for a, b in pairwise(edges)):
        raise ValueError(f"edges must be non-empty and strictly increasing, got {edges}")
    names = [f"<={edges[0]}"]
    for lo, hi in pairwise(edges):
        names.append(str(hi) if hi == lo + 1 else f"{lo + 1}-{hi}")
    names.append(f">{edges[-1]}")
    index = np.searchsorted(np.asarray(edges), values, side="left")
    return Slicing(name=name, labels=np.asarray(names)[index], order=tuple(names))


def by_message_length(texts: Sequence[str], edges: Sequence[int] = (5, 10, 20, 40)) -> Slicing:
    """Bucket messages by their number of whitespace-separated words."""
    return integer_buckets([len(t.split()) for t in texts], edges, "message_length")


def by_class(y_true: Sequence | np.ndarray, name: str = "class") -> Slicing:
    """One bucket per true label; the mean of 0/1 correctness there is the class recall."""
    labels = np.asarray([str(y) for y in np.asarray(y_true).tolist()])
    return Slicing(name=name, labels=labels, order=tuple(sorted(set(labels.tolist()))))


def by_history_length(
    history_lengths: Sequence[int] | np.ndarray, edges: Sequence[int] = (2, 5, 10, 20)
) -> Slicing:
    """Bucket users by how many items their history (the model's input) holds."""
    return integer_buckets(history_lengths, edges, "history_length")


def by_item_popularity(
    target_items: Sequence[int] | np.ndarray,
    item_counts: Sequence[int] | np.ndarray,
    head: float = 0.1,
    tail: float = 0.5,
) -> Slicing:
    """Bucket each user's target item as "head", "mid" or "tail" of the catalogue.

    item_counts: (n_items,) training interactions per item. Items are ranked by count; the
    `head` share of the catalogue with the most interactions is "head", the `tail` share
    with the fewest is "tail". Tied items share their average rank, hence one bucket.
    """
    if not (0 < head < 1 and 0 < tail < 1 and head + tail <= 1):
        raise ValueError(f"need 0 < head, tail < 1 and head + tail <= 1, got {head}, {tail}")
    counts = np.asarray(item_counts, dtype=float)
    percentile = rankdata(-counts, method="average") / len(counts)  # 1/n: most popular
    bucket = np.where(percentile <= head, "head", np.where(percentile > 1 - tail, "tail", "mid"))
    return Slicing(
        name="item_popularity",
        labels=bucket[np.asarray(target_items, dtype=np.int64)],
        order=("head", "mid", "tail"),
    )


def cold_start(
    target_items: Sequence[int] | np.ndarray,
    item_counts: Sequence[int] | np.ndarray,
    min_interactions: int = 1,
) -> Slicing:
    """ "cold" where the target item had fewer than `min_interactions` training
    interactions (by default: never seen in training), else "warm"."""
    counts = np.asarray(item_counts)[np.asarray(target_items, dtype=np.int64)]
    labels = np.where(counts < min_interactions, "cold", "warm")
    return Slicing(name="cold_start", labels=labels, order=("cold", "warm"))


def cold_items(
    target_items: Sequence[int] | np.ndarray,
    item_counts: Sequence[int] | np.ndarray,
    below: int = 5,
) -> Slicing:
    """ "cold" where the target item had fewer than `below` training interactions (the
    items a co-occurrence model like EASE knows little about), else "warm"."""
    return _renamed(cold_start(target_items, item_counts, below), "cold_items")


def short_history(history_lengths: Sequence[int] | np.ndarray, below: int = 5) -> Slicing:
    """ "short" where the user's history (the model's input) holds fewer than `below`
    items, else "long"."""
    labels = np.where(np.asarray(history_lengths) < below, "short", "long")
    return Slicing(name="short_history", labels=labels, order=("short", "long"))


def _renamed(slicing: Slicing, name: str) -> Slicing:
    return Slicing(name=name, labels=slicing.labels, order=slicing.order)


def slice_metrics(
    slicing: Slicing,
    per_example: Mapping[str, Sequence[float] | np.ndarray],
    subset_metrics: Mapping[str, Callable[[np.ndarray], float]] | None = None,
    n_resamples: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Tidy records {slice, bucket, n, metric, value, low, high} for each non-empty bucket.

    per_example: metric name -> (n,) values, averaged within the bucket (e.g. correctness,
    hr@10); with n_resamples > 0 each mean gets a percentile bootstrap interval, else
    low/high are None. subset_metrics: metric name -> function of the bucket's (m,) example
    indices, for metrics that are not means (macro-F1 on the bucket); no interval.
    """
    labels = np.asarray(slicing.labels)
    values = {name: np.asarray(v, dtype=float) for name, v in per_example.items()}
    for name, v in values.items():
        if v.shape != labels.shape:
            raise ValueError(f"{name}: {v.shape} values for {labels.shape} slice labels")
    records: list[dict[str, Any]] = []
    for bucket in slicing.order:
        index = np.flatnonzero(labels == bucket)
        if index.size == 0:
            continue  # an empty bucket has no value; leaving it out keeps records finite
        base = {"slice": slicing.name, "bucket": bucket, "n": int(index.size)}
        for name, v in values.items():
            low = high = None
            if n_resamples > 0:
                ci = bootstrap_ci(v[index], n_resamples, confidence, seed)
                low, high = ci.low, ci.high
            value = float(v[index].mean())
            records.append({**base, "metric": name, "value": value, "low": low, "high": high})
        for name, fn in (subset_metrics or {}).items():
            value = float(fn(index))
            records.append({**base, "metric": name, "value": value, "low": None, "high": None})
    unknown = set(labels.tolist()) - set(slicing.order)
    if unknown:
        logger.warning("slice %s: labels outside its order ignored: %s", slicing.name, unknown)
    return records


def slice_table(
    slicings: Sequence[Slicing],
    per_example: Mapping[str, Sequence[float] | np.ndarray],
    subset_metrics: Mapping[str, Callable[[np.ndarray], float]] | None = None,
    n_resamples: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """`slice_metrics` for several slicings of the same examples, concatenated."""
    return [
        record
        for slicing in slicings
        for record in slice_metrics(
            slicing, per_example, subset_metrics, n_resamples, confidence, seed
        )
    ]
