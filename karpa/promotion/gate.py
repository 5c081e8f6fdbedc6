"""The promotion gate: pure decisions from paired evidence.

A challenger replaces the champion only if (1) the bootstrap interval of
challenger − champion on the primary metric lies wholly above the margin, (2) no slice
regresses by more than its bound, and (3) the guardrails hold (p95 single-request latency
and model size), and (4) under a privacy limit, its ε is within it
(karpa/promotion/privacy.py). With no champion yet, the challenger must clear absolute
floors. Every decision comes with one sentence saying why, and the figures behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from karpa.evaluation.bootstrap import paired_bootstrap, paired_bootstrap_metric
from karpa.promotion.privacy import privacy_figures, privacy_refusal


@dataclass(frozen=True)
class GateRules:
    """What a challenger must show. Metric values are in the metric's own units."""

    margin: float = 0.0  # the lower CI bound of (challenger - champion) must exceed this
    slice_drop: float = 0.05  # largest allowed drop of any slice's metric vs the champion
    min_slice_size: int = 30  # smaller slices are too noisy to block a promotion
    max_latency_p95_ms: float = 250.0
    max_model_mb: float = 500.0
    floor: float = 0.0  # a first version must reach at least this on the primary metric
    confidence: float = 0.95
    n_resamples: int = 2000
    seed: int = 0
    max_epsilon: float | None = None  # DP policy (karpa/promotion/privacy.py); None: none


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _guardrails(latency_p95_ms: float, model_mb: float, rules: GateRules) -> str | None:
    if latency_p95_ms > rules.max_latency_p95_ms:
        return (
            f"p95 single-request latency {latency_p95_ms:.0f} ms exceeds the "
            f"{rules.max_latency_p95_ms:.0f} ms guardrail"
        )
    if model_mb > rules.max_model_mb:
        return f"model size {model_mb:.1f} MB exceeds the {rules.max_model_mb:.0f} MB guardrail"
    return None


def _slice_regression(
    challenger: Mapping[str, tuple[float, int]],
    champion: Mapping[str, tuple[float, int]],
    rules: GateRules,
) -> tuple[str, float] | None:
    """The slice that dropped the most past its bound, with the drop; slices are
    `name -> (metric value, examples)` and only slices both models were measured on count."""
    worst: tuple[str, float] | None = None
    for name, (value, n) in challenger.items():
        if name not in champion or n < rules.min_slice_size:
            continue
        drop = champion[name][0] - value
        if drop > rules.slice_drop and (worst is None or drop > worst[1]):
            worst = (name, drop)
    return worst


def decide(
    metric: str,
    challenger: np.ndarray,
    champion: np.ndarray | None,
    *,
    challenger_slices: Mapping[str, tuple[float, int]] | None = None,
    champion_slices: Mapping[str, tuple[float, int]] | None = None,
    latency_p95_ms: float = 0.0,
    model_mb: float = 0.0,
    rules: GateRules = GateRules(),
    metric_fn: Callable[..., float] | None = None,
    labels: np.ndarray | None = None,
    privacy: Mapping[str, Any] | None = None,
    subject: str = "the challenger",
) -> Decision:
    """Decide on one challenger.

    `challenger` / `champion` are per-example values on the same test examples in the same
    order (correctness, per-user NDCG, ...), or, with `metric_fn`, per-example predictions
    scored against `labels` by `metric_fn(labels, predictions)` (for metrics such as
    macro-F1 that are not means of per-example values). `privacy` is the challenger's DP
    record (epsilon, delta; None when trained without DP): its ε is always recorded, and
    refused above `rules.max_epsilon`, in a sentence naming `subject`.
    """

    def score(values: np.ndarray) -> float:
        return float(metric_fn(labels, values)) if metric_fn else float(np.mean(values))

    figures: dict[str, Any] = {
        "metric": metric,
        "challenger": score(challenger),
        "n": len(challenger),
        "latency_p95_ms": latency_p95_ms,
        "model_mb": model_mb,
        **privacy_figures(privacy),
        "max_epsilon": rules.max_epsilon,
    }
    refusal = privacy_refusal(subject, privacy, rules.max_epsilon)
    if refusal:
        return Decision(False, refusal, figures)
    guard = _guardrails(latency_p95_ms, model_mb, rules)
    if guard:
        return Decision(False, f"refused: {guard}", figures)

    if champion is None:
        if figures["challenger"] >= rules.floor:
            return Decision(
                True,
                f"promoted: first version, {metric} "
                f"{figures['challenger']:.4f} clears the floor {rules.floor:.4f}",
                figures,
            )
        return Decision(
            False,
            f"refused: first version, {metric} {figures['challenger']:.4f} "
            f"is below the floor {rules.floor:.4f}",
            figures,
        )

    if metric_fn:
        interval = paired_bootstrap_metric(
            metric_fn,
            challenger=(labels, challenger),
            champion=(labels, champion),
            n_resamples=rules.n_resamples,
            confidence=rules.confidence,
            seed=rules.seed,
        )
    else:
        interval = paired_bootstrap(
            challenger,
            champion,
            n_resamples=rules.n_resamples,
            confidence=rules.confidence,
            seed=rules.seed,
        )
    figures.update(
        {
            "champion": score(champion),
            "delta": interval.estimate,
            "delta_low": interval.low,
            "delta_high": interval.high,
            "margin": rules.margin,
        }
    )
    ci = f"{interval.estimate:+.4f} [{interval.low:+.4f}, {interval.high:+.4f}]"
    if interval.low <= rules.margin:
        return Decision(
            False,
            f"refused: {metric} challenger − champion = {ci}, not above the "
            f"margin {rules.margin:+.4f} beyond noise",
            figures,
        )
    worst = _slice_regression(challenger_slices or {}, champion_slices or {}, rules)
    if worst:
        figures.update({"slice": worst[0], "slice_drop": worst[1]})
        return Decision(
            False,
            f"refused: slice {worst[0]} dropped {worst[1]:.4f}, more than "
            f"its bound {rules.slice_drop:.4f}",
            figures,
        )
    return Decision(
        True,
        f"promoted: {metric} challenger − champion = {ci}, above the margin "
        f"{rules.margin:+.4f}; no slice regressed; guardrails hold",
        figures,
    )
