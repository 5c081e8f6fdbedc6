"""Percentile bootstrap intervals, for one model and for the paired difference of two.

Examples are resampled with replacement, n of n, `n_resamples` times; the interval is the
(alpha/2, 1 - alpha/2) quantile pair of the resampled statistic, the point estimate is the
statistic on the original examples. Per-example metrics (accuracy, hit@10, ...) are
resampled as one vectorised index array; any other metric (macro-F1) goes through a metric
function called once per resample, on the very same indices for the same seed.

The paired bootstrap resamples the examples once and evaluates both models on each draw,
so the shared difficulty of an example cancels: its interval is much narrower than the
difference of two independent intervals, which is what a promotion gate needs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from karpa_models.progress import Progress

logger = logging.getLogger(__name__)

# Resample indices are drawn in chunks of about this many cells to bound memory.
_CELLS_PER_CHUNK = 1 << 22


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile bootstrap interval.

    For a paired difference (challenger - champion), `share_not_positive` is the share of
    resamples in which the difference was <= 0: a one-sided bootstrap p-value for
    "the challenger is better". None for a single model.
    """

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    seed: int
    share_not_positive: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resample_indices(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Yield (b, n) arrays of indices drawn with replacement, b rows at a time, in total
    `n_resamples` rows. The stream depends only on (n, n_resamples, seed)."""
    if n < 1:
        raise ValueError("the bootstrap needs at least one example")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    step = max(1, _CELLS_PER_CHUNK // n)
    for start in range(0, n_resamples, step):
        yield rng.integers(0, n, size=(min(step, n_resamples - start), n))


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Interval for the mean of per-example values (n,), e.g. 0/1 correctness or NDCG@10."""
    values = _per_example(values)
    stats = np.concatenate(
        [values[idx].mean(axis=1) for idx in resample_indices(len(values), n_resamples, seed)]
    )
    return _interval(float(values.mean()), stats, confidence, seed)


def bootstrap_metric_ci(
    metric_fn: Callable[..., float],
    *arrays: Sequence | np.ndarray,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Interval for `metric_fn(*arrays)`, e.g. macro_f1(y_true, y_pred).

    arrays: each (n, ...), resampled together along the first axis. metric_fn is called once
    per resample, so this is slower than `bootstrap_ci`; a few thousand calls of an sklearn
    metric take seconds.
    """
    arrays_np = _aligned(arrays)
    n = len(arrays_np[0])
    stats = _each_resample(
        lambda row: metric_fn(*(a[row] for a in arrays_np)), n, n_resamples, seed, "bootstrap"
    )
    return _interval(float(metric_fn(*arrays_np)), stats, confidence, seed)


def paired_bootstrap(
    challenger: Sequence[float] | np.ndarray,
    champion: Sequence[float] | np.ndarray,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Interval for mean(challenger) - mean(champion) of per-example values on the same
    (n,) examples in the same order (e.g. pretrained vs scratch correctness)."""
    a, b = _per_example(challenger), _per_example(champion)
    if a.shape != b.shape:
        raise ValueError(f"paired values must align: {a.shape} vs {b.shape}")
    diff = a - b  # mean of differences = difference of means, on every resample
    stats = np.concatenate(
        [diff[idx].mean(axis=1) for idx in resample_indices(len(diff), n_resamples, seed)]
    )
    return _interval(float(diff.mean()), stats, confidence, seed, paired=True)


def paired_bootstrap_metric(
    metric_fn: Callable[..., float],
    challenger: Sequence[Sequence | np.ndarray],
    champion: Sequence[Sequence | np.ndarray],
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Interval for metric_fn(*challenger) - metric_fn(*champion), resampling examples
    jointly: e.g. metric_fn=macro_f1, challenger=(y_true, pred_new), champion=(y_true, pred_old).
    All arrays are (n, ...) over the same examples."""
    a, b = _aligned(challenger), _aligned(champion)
    if len(a[0]) != len(b[0]):
        raise ValueError(f"paired inputs must align: {len(a[0])} vs {len(b[0])} examples")
    stats = _each_resample(
        lambda row: metric_fn(*(x[row] for x in a)) - metric_fn(*(x[row] for x in b)),
        len(a[0]),
        n_resamples,
        seed,
        "paired bootstrap",
    )
    estimate = float(metric_fn(*a) - metric_fn(*b))
    return _interval(estimate, stats, confidence, seed, paired=True)


def _each_resample(
    stat: Callable[[np.ndarray], float], n: int, n_resamples: int, seed: int, what: str
) -> np.ndarray:
    """(n_resamples,) values of `stat` on each resample's (n,) row indices; a run long
    enough to notice logs its progress."""
    progress = Progress(what, n_resamples, unit="resample", logger=logger)
    out = np.empty(n_resamples, dtype=float)
    done = 0
    for idx in resample_indices(n, n_resamples, seed):
        for row in idx:
            out[done] = stat(row)
            done += 1
            progress.update(done)
    return out


def _interval(
    estimate: float, stats: np.ndarray, confidence: float, seed: int, paired: bool = False
) -> Interval:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    finite = stats[~np.isnan(stats)]
    if finite.size < stats.size:
        # A metric can be undefined on a resample (no OOS example drawn); such draws are
        # left out rather than allowed to poison the interval, and reported.
        logger.warning("%d of %d resamples gave NaN", stats.size - finite.size, stats.size)
    alpha = 1.0 - confidence
    if finite.size:
        low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    else:
        low = high = float("nan")
    share = float(np.mean(finite <= 0)) if paired and finite.size else None
    return Interval(
        estimate=estimate,
        low=float(low),
        high=float(high),
        confidence=confidence,
        n_resamples=int(stats.size),
        seed=int(seed),
        share_not_positive=share,
    )


def _per_example(values: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"per-example values must be (n,), got {values.shape}")
    return values


def _aligned(arrays: Sequence[Sequence | np.ndarray]) -> list[np.ndarray]:
    if not arrays:
        raise ValueError("at least one array is needed")
    out = [np.asarray(a) for a in arrays]
    if len({len(a) for a in out}) != 1:
        raise ValueError(f"arrays differ in length: {[len(a) for a in out]}")
    return out
