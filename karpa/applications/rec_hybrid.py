"""Choosing the hybrid's blend on validation users, never on test.

For each cold-item rule and each sequence weight of the grid, the blended scores of the
validation users (history: their training items; target: their validation item) are
ranked under the evaluation's own protocol (full ranking, history excluded, ties against
the model). Users only interact with the weight of their history-length bucket, so each
bucket may take the grid weight that maximises its own validation NDCG@10; it keeps the
overall best weight instead when it has too few users or when its own weight's gain is
within two standard errors (paired, over its users) — on the demo world a 184-user bucket's
validation curve zig-zags by more than the gains between grid points. The cold rule with
the better overall validation NDCG@10 wins (ties keep "blend").

The blend's validation users are not those that early stopping read (`validation_split`):
there the sequence model's figure is the best of its many checkpoint evaluations, higher
than it will be on new users, while EASE's is not. On MovieLens (seed 0, 500 early-stopping
users of 610) the sequence model's validation NDCG@10 was 0.070 there and 0.044 on the test
users, and the blend chosen on all 610 gave it all the weight, so the served model was the
sequence model alone; with the users split in halves the blend kept EASE in (weight 0.9).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from karpa.applications.rec_config import RecommendationConfig
from karpa.evaluation.ranking import evaluate_ranking, seen_mask
from karpa_models.finetune.hybrid import BlendWeights, blend_scores

logger = logging.getLogger(__name__)

METRIC = "ndcg@10"


@dataclass
class BlendChoice:
    """The chosen weights and the validation table they were read from."""

    blend: BlendWeights
    validation: float  # validation NDCG@10 of the chosen blend
    users: int = 0  # validation users it was chosen on
    table: list[dict[str, Any]] = field(default_factory=list)  # {rule, bucket, weight, n, value}


def validation_split(n_users: int, cfg: RecommendationConfig) -> tuple[np.ndarray, np.ndarray]:
    """(early-stopping rows, blend rows): disjoint seeded samples of the n validation
    users. With the hybrid on, the blend takes round(blend_share * n) of them (at least one,
    and one is left to early stopping); early stopping reads at most max_val_users of the
    rest (all of them without the hybrid). A single validation user serves both."""
    order = np.random.default_rng(cfg.seed).permutation(n_users)
    if cfg.hybrid and n_users < 2:
        return np.sort(order), np.sort(order)
    n_blend = min(max(round(cfg.blend_share * n_users), 1), n_users - 1) if cfg.hybrid else 0
    blend, rest = order[:n_blend], order[n_blend:]
    if cfg.max_val_users is not None:
        rest = rest[: cfg.max_val_users]
    return np.sort(rest), np.sort(blend)


def _bucket_names(edges: Sequence[int]) -> list[str]:
    if not edges:
        return ["all"]
    names = [f"<={edges[0]}"]
    names += [f"{lo + 1}-{hi}" for lo, hi in pairwise(edges)]
    return [*names, f">{edges[-1]}"]


def _clearly_better(mine: np.ndarray, overall: np.ndarray, z: float = 2.0) -> bool:
    """A bucket's own weight beats the overall weight on its users by more than `z`
    standard errors of the paired per-user difference: a smaller gain is the noise of a
    few hundred users, not a property of the bucket."""
    diff = mine - overall
    if diff.size < 2:
        return False
    return bool(diff.mean() > z * diff.std(ddof=1) / np.sqrt(diff.size))


def choose_blend(
    sequence: np.ndarray,
    ease: np.ndarray,
    histories: Sequence[Sequence[int]],
    targets: np.ndarray,
    item_counts: np.ndarray,
    grid: Sequence[float],
    history_edges: Sequence[int],
    cold_below: int,
    min_users: int,
) -> BlendChoice:
    """sequence, ease: (U, I) raw validation scores of the two parts; histories (U,) and
    targets (U,): the validation users. Returns the blend with the best validation NDCG@10."""
    edges = tuple(int(e) for e in history_edges)
    grid = sorted({float(w) for w in grid})
    lengths = np.asarray([len(h) for h in histories])
    bucket = np.searchsorted(np.asarray(edges, dtype=np.int64), lengths, side="left")
    names = _bucket_names(edges)
    cold = np.asarray(item_counts) < cold_below
    exclude = seen_mask(histories, sequence.shape[1])
    table: list[dict[str, Any]] = []
    best: BlendChoice | None = None
    for rule in ("blend", "sequence"):
        per_user = np.stack(
            [  # (W, U) validation NDCG@10 of each grid weight
                evaluate_ranking(
                    blend_scores(
                        sequence, ease, lengths, cold, BlendWeights((), (w,), cold_below, rule)
                    ),
                    targets,
                    ks=(10,),
                    exclude=exclude,
                    excluded_target="miss",
                ).per_user()[METRIC]
                for w in grid
            ]
        )
        overall = int(np.argmax(per_user.mean(axis=1)))
        chosen = []
        for b, name in enumerate(names):
            users = bucket == b
            means = per_user[:, users].mean(axis=1) if users.any() else per_user.mean(axis=1)
            pick = int(np.argmax(means)) if users.sum() >= min_users else overall
            if pick != overall and not _clearly_better(
                per_user[pick, users], per_user[overall, users]
            ):
                pick = overall
            chosen.append(pick)
            table += [
                {
                    "cold_rule": rule,
                    "bucket": name,
                    "weight": w,
                    "n": int(users.sum()),
                    "value": float(means[i]),
                    "chosen": i == pick,
                }
                for i, w in enumerate(grid)
            ]
        value = float(np.mean(per_user[np.asarray(chosen)[bucket], np.arange(len(lengths))]))
        blend = BlendWeights(edges, tuple(grid[i] for i in chosen), cold_below, rule)
        logger.info(
            "recommendation blend (%s items): %s, validation %s %.4f",
            rule,
            blend.weights,
            METRIC,
            value,
        )
        if best is None or value > best.validation:
            best = BlendChoice(blend, value, len(lengths))
    assert best is not None
    best.table = table
    return best
