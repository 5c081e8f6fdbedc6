"""Compare two profiles of the same table: population stability and label distance.

- Numbers (and text lengths, byte sizes, list lengths): population stability index over
  ten bins cut at the *previous* profile's deciles. Profiles hold percentiles, not rows,
  so each side's share of a bin is read off its own percentile curve (a piecewise-linear
  CDF, accurate to about one percentile).
- Categories (and numbers with few distinct values): population stability index over
  the union of categories.
- Labels: Jensen–Shannon distance (base 2, so between 0 and 1).
A finding is raised when a statistic exceeds the contract's warn threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from data_contracts.model import DriftThresholds

# Empty bins would make the index infinite; this floor is the usual convention.
_FLOOR = 1e-4
_DECILES = np.arange(10, 100, 10)


@dataclass(frozen=True)
class DriftFinding:
    """One statistic comparing one column of two profiles."""

    table: str
    column: str
    statistic: Literal["psi", "js_distance"]
    value: float
    threshold: float
    drifted: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cdf(quantiles: list[float | None], points: np.ndarray) -> np.ndarray:
    """Share of values <= each point, from 101 percentiles (ties keep the highest share)."""
    knots = np.asarray([q for q in quantiles if q is not None], dtype=float)
    shares = np.linspace(0.0, 1.0, len(knots))
    unique, inverse = np.unique(knots, return_inverse=True)
    top = np.zeros(len(unique))
    np.maximum.at(top, inverse, shares)
    return np.interp(points, unique, top, left=0.0, right=1.0)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of `actual` against `expected` (two share vectors)."""
    e = np.clip(np.asarray(expected, dtype=float), _FLOOR, None)
    a = np.clip(np.asarray(actual, dtype=float), _FLOOR, None)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_psi(previous: list[float | None], current: list[float | None]) -> float:
    """PSI over ten bins cut at the previous deciles, from two percentile lists."""
    edges = np.unique(np.asarray(previous, dtype=float)[_DECILES])
    bounds = np.concatenate(([-np.inf], edges, [np.inf]))

    def shares(quantiles: list[float | None]) -> np.ndarray:
        return np.diff(_cdf(quantiles, bounds))

    return psi(shares(previous), shares(current))


def categorical_psi(previous: dict[str, float], current: dict[str, float]) -> float:
    """PSI over the union of categories of two share mappings."""
    keys = sorted(set(previous) | set(current))
    return psi(
        np.array([previous.get(k, 0.0) for k in keys]),
        np.array([current.get(k, 0.0) for k in keys]),
    )


def js_distance(previous: dict[str, float], current: dict[str, float]) -> float:
    """Jensen–Shannon distance (base 2) between two label distributions."""
    keys = sorted(set(previous) | set(current))
    p = np.array([previous.get(k, 0.0) for k in keys], dtype=float)
    q = np.array([current.get(k, 0.0) for k in keys], dtype=float)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return float(np.sqrt(max((kl(p) + kl(q)) / 2, 0.0)))


_SIZE_KEYS = {
    "length_quantiles": "length",
    "bytes_quantiles": "bytes",
}


def _comparisons(
    name: str, prev: dict[str, Any], cur: dict[str, Any]
) -> list[tuple[str, str, float]]:
    """(column label, statistic, value) for every statistic both profiles allow."""
    found = []
    if prev.get("role") == "label":
        if prev.get("value_shares") and cur.get("value_shares"):
            value = js_distance(prev["value_shares"], cur["value_shares"])
            found.append((name, "js_distance", value))
        return found
    if prev.get("value_shares") and cur.get("value_shares"):
        value = categorical_psi(prev["value_shares"], cur["value_shares"])
        found.append((name, "psi", value))
    elif prev.get("quantiles") and cur.get("quantiles"):
        found.append((name, "psi", numeric_psi(prev["quantiles"], cur["quantiles"])))
    for key, suffix in _SIZE_KEYS.items():
        if prev.get(key) and cur.get(key):
            found.append((f"{name}.{suffix}", "psi", numeric_psi(prev[key], cur[key])))
    return found


def compute_drift(
    previous: dict[str, Any],
    current: dict[str, Any],
    thresholds: DriftThresholds | None = None,
) -> list[DriftFinding]:
    """Compare two profiles of one table; one finding per statistic computed.

    Thresholds default to those the current profile carries from its contract. A finding
    with `drifted=True` is a warning: drift is reported, it does not stop a run.
    """
    if previous.get("table") != current.get("table"):
        raise ValueError(
            f"cannot compare profiles of {previous.get('table')!r} and {current.get('table')!r}"
        )
    limits = thresholds or DriftThresholds(**current.get("drift_thresholds", {}))
    findings = []
    for name, cur in current["columns"].items():
        prev = previous["columns"].get(name)
        if prev is None:
            continue
        for column, statistic, value in _comparisons(name, prev, cur):
            threshold = limits.js_warn if statistic == "js_distance" else limits.psi_warn
            drifted = value > threshold
            verdict = "above" if drifted else "within"
            findings.append(
                DriftFinding(
                    table=current["table"],
                    column=column,
                    statistic=statistic,
                    value=round(value, 6),
                    threshold=threshold,
                    drifted=drifted,
                    detail=f"{statistic} {value:.3f} {verdict} warn threshold {threshold:g}",
                )
            )
    return findings
