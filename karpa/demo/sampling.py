"""Seeded random streams and the vectorised draws every part of the world uses."""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent generator for one part of the world.

    Each part (items, events, messages, ...) draws from its own stream, keyed by the world
    seed and the part's name, so that changing how one part is generated leaves every
    other part of the world byte-identical.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))


def zipf_weights(n: int, exponent: float) -> np.ndarray:
    """Normalised weights 1/rank**exponent for ranks 1..n: a head and a long tail."""
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    return w / w.sum()


def row_cumulative(weights: np.ndarray) -> np.ndarray:
    """Row-normalised cumulative sums of a (R, K) weight matrix, ready for `draw_rows`.

    Rows whose weights are all zero stay all zero; `draw_rows` must not be asked to draw
    from them.
    """
    totals = weights.sum(axis=1, keepdims=True)
    safe = np.where(totals > 0, totals, 1.0)
    return np.cumsum(weights / safe, axis=1)


def draw_rows(cumulative: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per entry of `rows`, from that row of a (R, K) distribution.

    Vectorised inverse-CDF sampling: shifting row r's cumulative sums by r puts all rows
    on one increasing axis, so a single `searchsorted` serves every draw.
    Returns column indices, shape (len(rows),).
    """
    n_rows, k = cumulative.shape
    flat = (cumulative + np.arange(n_rows)[:, None]).ravel()
    targets = rows + rng.random(len(rows))
    cols = np.searchsorted(flat, targets, side="right") - rows * k
    # Rounding can leave a row's last cumulative value a hair under 1.
    return np.clip(cols, 0, k - 1)


def draw_grouped(
    group_of: np.ndarray, weights: np.ndarray, groups: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """For each entry of `groups`, draw a member of that group with probability ∝ weight.

    `group_of[i]` is the group of member i and `weights[i]` its weight. Groups with no
    weight give -1. Returns member indices, shape (len(groups),).
    """
    order = np.lexsort((np.arange(len(group_of)), group_of))
    g_sorted = group_of[order]
    w_sorted = weights[order].astype(np.float64)
    n_groups = int(group_of.max()) + 1 if len(group_of) else 0
    totals = np.bincount(g_sorted, weights=w_sorted, minlength=n_groups)
    starts = np.searchsorted(g_sorted, np.arange(n_groups))
    cum = np.cumsum(w_sorted)
    before = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0.0)
    # Position on one global axis: the group's offset plus a share of its total weight.
    targets = before[groups] + rng.random(len(groups)) * totals[groups]
    pos = np.searchsorted(cum, targets, side="right")
    ends = np.searchsorted(g_sorted, np.arange(n_groups), side="right") - 1
    pos = np.minimum(pos, ends[groups])
    out = order[np.clip(pos, 0, len(order) - 1)]
    return np.where(totals[groups] > 0, out, -1)


def pick(rng: np.random.Generator, n: int, share: float, pool: np.ndarray) -> np.ndarray:
    """`round(n * share)` distinct members of `pool` (at least one when share > 0), sorted."""
    k = min(len(pool), max(1 if share > 0 else 0, round(n * share)))
    return np.sort(rng.choice(pool, size=k, replace=False)) if k else pool[:0]
