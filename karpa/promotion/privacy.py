"""The gate's privacy policy: a challenger's ε against `promote.max_epsilon`.

The rule: under a limit for its application, a challenger is promoted only if it was
fine-tuned with DP-SGD and the ε it spent (over every step taken, at its δ) is at most
the limit. A challenger trained without DP has ε = ∞ and is refused under any limit;
one whose privacy record is missing (a model from before the option) counts as not
private. Without a limit for the application, ε is recorded and nothing is refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def spent_epsilon(privacy: Mapping[str, Any] | None) -> float:
    """The ε a fine-tune spent; infinity for a model trained without DP."""
    if not privacy or privacy.get("epsilon") is None:
        return math.inf
    return float(privacy["epsilon"])


def privacy_figures(privacy: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the gate records of the challenger's privacy. JSON has no infinity, so a
    non-private model records epsilon None with private false (its ε is ∞)."""
    epsilon = spent_epsilon(privacy)
    private = math.isfinite(epsilon)
    return {
        "private": private,
        "epsilon": epsilon if private else None,
        "delta": (privacy or {}).get("delta") if private else None,
    }


def privacy_refusal(
    subject: str, privacy: Mapping[str, Any] | None, max_epsilon: float | None
) -> str | None:
    """One sentence refusing `subject` (e.g. "karpa-intent v3") under the limit, or None."""
    if max_epsilon is None:
        return None
    epsilon = spent_epsilon(privacy)
    if not math.isfinite(epsilon):
        return (
            f"refused: {subject} was fine-tuned without differential privacy (ε = ∞), "
            f"and promote.max_epsilon allows at most ε = {max_epsilon:g}"
        )
    if epsilon > max_epsilon:
        delta = (privacy or {}).get("delta")
        at = f" at δ = {delta:.2g}" if delta is not None else ""
        return (
            f"refused: {subject} spent ε = {epsilon:.3f}{at}, above the limit "
            f"promote.max_epsilon = {max_epsilon:g}"
        )
    return None
