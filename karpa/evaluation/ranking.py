"""Next-item ranking metrics: HR@K, NDCG@K and MRR, with the protocol recorded beside them.

One held-out target item per user, a score per (user, item). Two candidate sets:

- full ranking (the default): the target competes with every item in the catalogue;
- sampled: the target competes with N negatives drawn uniformly, without replacement, from
  the items that are neither the target nor excluded (seeded, so reproducible). Papers often
  report this; it flatters every model, so it is never the number a gate decides on.

Items marked in `exclude` (typically those already in the user's history) are removed from
the candidates; the target itself never is. Ties count against the model:
rank = 1 + #(candidates scoring higher) + #(candidates scoring equal, other than the target),
so a constant scorer ranks the target last rather than first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

logger = logging.getLogger(__name__)

TIE_RULE = "rank = 1 + #higher + #equal (target excluded); ties count against the model"
# Rows per chunk are chosen so that one chunk's temporaries hold about this many cells.
_CELLS_PER_CHUNK = 1 << 22

Mask = np.ndarray | sp.spmatrix | sp.sparray


def seen_mask(histories: Sequence[Sequence[int]], n_items: int) -> sp.csr_matrix:
    """Boolean (n_users, n_items) sparse mask with True at every item in a user's history."""
    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    cols = np.fromiter((i for h in histories for i in h), dtype=np.int64, count=len(rows))
    if cols.size and (cols.min() < 0 or cols.max() >= n_items):
        raise ValueError(f"history item index outside [0, {n_items})")
    data = np.ones(len(rows), dtype=bool)
    mask = sp.csr_matrix((data, (rows, cols)), shape=(len(histories), n_items), dtype=bool)
    mask.sum_duplicates()
    return mask


def per_user_metrics(ranks: np.ndarray, ks: Sequence[int] = (10,)) -> dict[str, np.ndarray]:
    """Per-user metric values from (n_users,) 1-based target ranks; each value is (n_users,).

    hr@k: 1 if rank <= k. ndcg@k: 1 / log2(rank + 1) if rank <= k (one relevant item, so
    the ideal DCG is 1). mrr: 1 / rank (its mean is the MRR).
    """
    ranks = np.asarray(ranks, dtype=float)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        hit = ranks <= k
        out[f"hr@{k}"] = hit.astype(float)
        out[f"ndcg@{k}"] = np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0)
    out["mrr"] = 1.0 / ranks
    return out


def full_ranks(scores: np.ndarray, targets: np.ndarray, exclude: Mask | None = None) -> np.ndarray:
    """1-based rank of each user's target among all non-excluded items.

    scores: (n_users, n_items) float; targets: (n_users,) item indices;
    exclude: optional (n_users, n_items) boolean mask, dense or scipy sparse.
    Returns (n_users,) int64.
    """
    scores, targets, exclude = _check_inputs(scores, targets, exclude)
    n_users, n_items = scores.shape
    ranks = np.empty(n_users, dtype=np.int64)
    step = max(1, _CELLS_PER_CHUNK // n_items)
    for start in range(0, n_users, step):
        stop = min(start + step, n_users)
        rows = np.arange(stop - start)
        block = scores[start:stop]  # (b, n_items)
        target_score = block[rows, targets[start:stop]][:, None]  # (b, 1)
        candidate = np.ones(block.shape, dtype=bool)
        if exclude is not None:
            candidate &= ~_dense_rows(exclude, start, stop)
        candidate[rows, targets[start:stop]] = False  # the target is compared, not counted
        beaten_or_tied = (block >= target_score) & candidate
        ranks[start:stop] = 1 + beaten_or_tied.sum(axis=1)
    return ranks


def sample_negatives(
    n_items: int,
    targets: np.ndarray,
    n_negatives: int,
    seed: int,
    exclude: Mask | None = None,
    refill_from_excluded: bool = False,
) -> np.ndarray:
    """Draw (n_users, n_negatives) item indices per user, uniformly without replacement,
    from the items that are neither the user's target nor excluded. Same seed, same draw.

    A user with fewer candidates than `n_negatives` (a long history in a small catalogue)
    is an error, unless `refill_from_excluded`: then that user's remaining negatives are
    drawn uniformly from their excluded items (never the target)."""
    targets = np.asarray(targets, dtype=np.int64)
    n_users = len(targets)
    if exclude is not None and sp.issparse(exclude):
        exclude = sp.csr_matrix(exclude, dtype=bool)
    rng = np.random.default_rng(seed)
    negatives = np.empty((n_users, n_negatives), dtype=np.int64)
    step = max(1, _CELLS_PER_CHUNK // n_items)
    for start in range(0, n_users, step):
        stop = min(start + step, n_users)
        # The n smallest of iid uniform keys form a uniform random subset of size n.
        keys = rng.random((stop - start, n_items))
        if exclude is not None:
            blocked = _dense_rows(exclude, start, stop).copy()
            short = (~blocked).sum(axis=1) - 1 < n_negatives
            if refill_from_excluded and short.any():
                # Excluded items rank after every other candidate (keys in [1, 2)), so they
                # are drawn only to fill the shortfall, and uniformly among themselves.
                keys[short] = np.where(blocked[short], 1.0 + keys[short], keys[short])
                blocked[short] = False
            keys[blocked] = np.inf
        keys[np.arange(stop - start), targets[start:stop]] = np.inf
        available = np.isfinite(keys).sum(axis=1)
        if available.min() < n_negatives:
            user = start + int(np.argmin(available))
            raise ValueError(
                f"user {user} has only {available.min()} candidate negatives, "
                f"fewer than n_negatives={n_negatives}"
            )
        if n_negatives:
            picked = np.argpartition(keys, n_negatives - 1, axis=1)[:, :n_negatives]
            negatives[start:stop] = np.sort(picked, axis=1)
    return negatives


def sampled_ranks(scores: np.ndarray, targets: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """1-based rank of each target among itself and its (n_users, N) sampled negatives."""
    scores, targets, _ = _check_inputs(scores, targets, None)
    rows = np.arange(len(targets))
    target_score = scores[rows, targets][:, None]  # (n_users, 1)
    negative_scores = np.take_along_axis(scores, negatives, axis=1)  # (n_users, N)
    return 1 + (negative_scores >= target_score).sum(axis=1).astype(np.int64)


@dataclass(frozen=True)
class RankingEvaluation:
    """Mean metrics, the protocol that produced them, and the (n_users,) target ranks."""

    metrics: dict[str, float]
    protocol: dict[str, Any]
    ranks: np.ndarray = field(repr=False)

    def per_user(self) -> dict[str, np.ndarray]:
        """Per-user values of every metric, each (n_users,), e.g. for bootstrap or slices."""
        return per_user_metrics(self.ranks, self.protocol["ks"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready {"metrics": ..., "protocol": ...} (ranks left out)."""
        return {"metrics": dict(self.metrics), "protocol": dict(self.protocol)}


def evaluate_ranking(
    scores: np.ndarray,
    targets: Sequence[int] | np.ndarray,
    ks: Sequence[int] = (10,),
    exclude: Mask | None = None,
    n_negatives: int | None = None,
    seed: int = 0,
    excluded_target: Literal["keep", "miss"] = "keep",
) -> RankingEvaluation:
    """HR@k and NDCG@k for each k in `ks`, and MRR, over all users.

    scores: (n_users, n_items); targets: (n_users,) held-out item index per user;
    exclude: optional (n_users, n_items) boolean mask of items removed from the candidates
    (e.g. `seen_mask(histories, n_items)`); n_negatives: None for full ranking, else the
    number of uniformly sampled negatives per user, drawn with `seed`.
    excluded_target: a target that `exclude` also marks (a repeat of a history item) is
    ranked as usual ("keep"), or counts as a miss ("miss": rank infinity, every metric 0)
    — what a model that never recommends history items can actually do.
    """
    scores, targets, exclude = _check_inputs(scores, targets, exclude)
    n_users, n_items = scores.shape
    if n_negatives is None:
        ranks = full_ranks(scores, targets, exclude)
        n_candidates = n_items - _row_counts(exclude, targets, n_users)
    else:
        if n_negatives < 0:
            raise ValueError(f"n_negatives must be >= 0, got {n_negatives}")
        short = int((n_items - _row_counts(exclude, targets, n_users) - 1 < n_negatives).sum())
        negatives = sample_negatives(
            n_items, targets, n_negatives, seed, exclude, refill_from_excluded=True
        )
        ranks = sampled_ranks(scores, targets, negatives)
        n_candidates = np.full(n_users, n_negatives + 1)
    missed = 0
    if excluded_target == "miss" and exclude is not None:
        flagged = _target_flags(exclude, targets, n_users)
        ranks = np.where(flagged, np.inf, ranks.astype(float))
        missed = int(flagged.sum())
    elif excluded_target != "keep":
        raise ValueError(f"excluded_target must be 'keep' or 'miss', got {excluded_target!r}")
    values = per_user_metrics(ranks, ks)
    metrics = {name: float(v.mean()) for name, v in values.items()}
    protocol: dict[str, Any] = {
        "candidates": "full" if n_negatives is None else "sampled",
        "n_users": int(n_users),
        "n_items": int(n_items),
        "n_negatives": n_negatives,
        "negative_sampling": None
        if n_negatives is None
        else "uniform without replacement over non-excluded items other than the target",
        "seed": None if n_negatives is None else int(seed),
        "exclude_seen": exclude is not None,
        "mean_candidates": float(np.mean(n_candidates)),
        "users_refilled_from_seen": None if n_negatives is None else short,
        "excluded_target": excluded_target if exclude is not None else None,
        "users_target_in_history_missed": missed if exclude is not None else None,
        "ties": TIE_RULE,
        "ks": [int(k) for k in ks],
    }
    logger.info("ranking (%s): %s", protocol["candidates"], metrics)
    return RankingEvaluation(metrics=metrics, protocol=protocol, ranks=ranks)


def validation_metrics(
    scores: np.ndarray,
    targets: Sequence[int] | np.ndarray,
    seen: Sequence[Sequence[int]] | None = None,
) -> dict[str, float]:
    """HR@10, NDCG@10 and MRR under full ranking, with the items in `seen` (one history per
    user) excluded when given: what a recommender's training loop early-stops on
    (karpa_models.finetune.next_item.train_recommender's `val_metrics`)."""
    exclude = seen_mask(seen, np.shape(scores)[1]) if seen is not None else None
    return evaluate_ranking(scores, targets, ks=(10,), exclude=exclude).metrics


def _check_inputs(
    scores: np.ndarray, targets: Sequence[int] | np.ndarray, exclude: Mask | None
) -> tuple[np.ndarray, np.ndarray, Mask | None]:
    scores = np.asarray(scores, dtype=float)
    targets = np.asarray(targets, dtype=np.int64)
    if scores.ndim != 2 or scores.shape[0] == 0:
        raise ValueError(f"scores must be (n_users > 0, n_items), got {scores.shape}")
    if targets.shape != (scores.shape[0],):
        raise ValueError(f"targets must be ({scores.shape[0]},), got {targets.shape}")
    if targets.min() < 0 or targets.max() >= scores.shape[1]:
        raise ValueError(f"target item index outside [0, {scores.shape[1]})")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; use -inf for items that must rank last")
    if exclude is not None:
        # CSR slices by row cheaply; a dense mask is used as given.
        exclude = sp.csr_matrix(exclude, dtype=bool) if sp.issparse(exclude) else exclude
        if exclude.shape != scores.shape:
            raise ValueError(f"exclude must be {scores.shape}, got {exclude.shape}")
    return scores, targets, exclude


def _dense_rows(mask: Mask, start: int, stop: int) -> np.ndarray:
    rows = mask[start:stop]
    dense = rows.toarray() if sp.issparse(rows) else np.asarray(rows)
    return dense.astype(bool, copy=False)


def _row_counts(exclude: Mask | None, targets: np.ndarray, n_users: int) -> np.ndarray:
    """Excluded items per user, not counting the target (which is ranked regardless)."""
    if exclude is None:
        return np.zeros(n_users)
    counts = (
        np.asarray(exclude.sum(axis=1)).ravel()
        if sp.issparse(exclude)
        else np.asarray(exclude, dtype=bool).sum(axis=1)
    )
    return counts - _target_flags(exclude, targets, n_users)


def _target_flags(exclude: Mask, targets: np.ndarray, n_users: int) -> np.ndarray:
    """(n_users,) bool: the exclusion mask also marks the user's target."""
    if sp.issparse(exclude):
        return np.asarray(exclude[np.arange(n_users), targets]).ravel().astype(bool)
    return np.asarray(exclude, dtype=bool)[np.arange(n_users), targets]
