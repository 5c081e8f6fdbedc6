"""Bootstrap intervals of the headline metric and paired deltas between text models
scored on the same test examples."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from karpa.applications.encoders import PRETRAINED, SCRATCH
from karpa.applications.report import interval_dict
from karpa.applications.text_config import TextAppConfig
from karpa.applications.text_runs import MetricFn, Scored, TextRun
from karpa.evaluation.bootstrap import (
    Interval,
    bootstrap_ci,
    bootstrap_metric_ci,
    paired_bootstrap,
    paired_bootstrap_metric,
)


def fast_macro_f1(labels: Sequence[str]) -> MetricFn:
    """karpa.evaluation.classification.macro_f1(y, pred, labels), computed from label
    counts. The bootstrap calls the metric thousands of times per application and
    sklearn's input checks cost about 2 ms a call; `compare` checks this function
    against the library's on every model's full test predictions."""
    vocab = {label: i for i, label in enumerate(labels)}
    n = len(vocab)

    def codes(values: np.ndarray) -> np.ndarray:
        # Labels outside `labels` get code n: they count as errors, never as a class.
        return np.fromiter((vocab.get(v, n) for v in values.tolist()), np.int64, len(values))

    def macro(y: np.ndarray, pred: np.ndarray) -> float:
        t, p = codes(y), codes(pred)
        tp = np.bincount(t[t == p], minlength=n + 1)[:n]
        support = np.bincount(t, minlength=n + 1)[:n] + np.bincount(p, minlength=n + 1)[:n]
        held = support > 0  # a label with no true and no predicted example has no F1
        return float((2.0 * tp[held] / support[held]).mean()) if held.any() else 0.0

    return macro


def headline_interval(
    metric: str, fn: MetricFn, y: np.ndarray, pred: np.ndarray, n: int, conf: float, seed: int
) -> Interval:
    if metric == "accuracy":  # a mean of per-example values: the fast vectorised bootstrap
        return bootstrap_ci((y == pred).astype(float), n, conf, seed)
    return bootstrap_metric_ci(fn, y, pred, n_resamples=n, confidence=conf, seed=seed)


def paired_delta(
    metric: str,
    fn: MetricFn,
    y: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    n: int,
    conf: float,
    seed: int,
) -> Interval:
    """Model a minus model b on the same test examples, resampled jointly."""
    if metric == "accuracy":
        return paired_bootstrap(
            (y == pred_a).astype(float), (y == pred_b).astype(float), n, conf, seed
        )
    return paired_bootstrap_metric(fn, (y, pred_a), (y, pred_b), n, conf, seed)


def compare(
    runs: Sequence[TextRun],
    scored: dict[str, Scored],
    y: np.ndarray,
    metric: str,
    fn: MetricFn,
    cfg: TextAppConfig,
    protocol: str,
    main: str | None = None,
) -> tuple[str, dict[str, Any], dict[str, dict[str, Any]], dict[str, Any] | None]:
    """-> (main model's name, its headline interval, comparisons, pretraining gain).
    main: the main model when it was chosen elsewhere (on validation); default the first
    run of kind "model". The gain is always pretrained minus scratch, both fine-tuned
    separately with the same recipe, whichever model is main."""
    for run in runs:
        fast, reference = fn(y, scored[run.name].pred), scored[run.name].metrics[metric]
        if not math.isclose(fast, reference, abs_tol=1e-9):
            raise RuntimeError(f"{metric} of {run.name}: bootstrap metric {fast} != {reference}")
    main = main or next(r.name for r in runs if r.kind == "model")
    ci = headline_interval(
        metric, fn, y, scored[main].pred, cfg.n_resamples, cfg.confidence, cfg.seed
    )
    comparisons = {}
    for run in runs:
        if run.name == main:
            continue
        other = scored[run.name].pred
        comparisons[run.name] = {
            "kind": run.kind,
            "metrics": scored[run.name].metrics,
            "headline": interval_dict(
                headline_interval(metric, fn, y, other, cfg.n_resamples, cfg.confidence, cfg.seed),
                metric,
                protocol,
            ),
            "delta": interval_dict(
                paired_delta(
                    metric,
                    fn,
                    y,
                    scored[main].pred,
                    other,
                    cfg.n_resamples,
                    cfg.confidence,
                    cfg.seed,
                ),
                metric,
                f"{main} minus {run.name}, paired bootstrap over test examples",
            ),
        }
    gain = None
    if main == PRETRAINED and SCRATCH in comparisons:
        gain = dict(comparisons[SCRATCH]["delta"])
    elif PRETRAINED in comparisons and SCRATCH in comparisons:  # a joint model is main
        pre, scratch = scored[PRETRAINED].pred, scored[SCRATCH].pred
        delta = paired_delta(metric, fn, y, pre, scratch, cfg.n_resamples, cfg.confidence, cfg.seed)
        gain = interval_dict(
            delta, metric, f"{PRETRAINED} minus {SCRATCH}, paired bootstrap over test examples"
        )
    return main, {**interval_dict(ci, metric, protocol), "model": main}, comparisons, gain
