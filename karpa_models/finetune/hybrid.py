"""The served recommender: the sequence model blended with EASE, and a popularity fallback.

The sequence model (the behaviour tower over a user's history, item embeddings fused with
content) sees order and content; EASE (an item-item linear model, Steck 2019) is strong on
co-occurrence but blind to items with little history. Their scores live on different
scales, so each is z-scored per user over the whole catalogue before the blend:

    score(u, i) = w(u) * z(sequence)(u, i) + (1 - w(u)) * z(ease)(u, i)

w(u) depends on the user's history length (one weight per bucket), and items with fewer
than `cold_below` training interactions may score by the sequence part alone
(`cold_rule="sequence"`). Every weight is chosen on validation users (karpa/applications/
rec_hybrid.py); this module only applies them, the same way for evaluation and serving.

A user with no known history item has nothing to personalise: `recommend` answers with
the training popularity and says so in `source`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from karpa_models.finetune.predictors import FineTunedRecommender

logger = logging.getLogger(__name__)

MODEL_SOURCE = "model"
FALLBACK_SOURCE = "popularity fallback: unknown user"


@dataclass(frozen=True)
class BlendWeights:
    """Sequence-model weight per history-length bucket, and how cold items score.

    history_edges (e.g. (4, 20)): inclusive upper bounds of the buckets "<=4", "5-20",
    ">20"; weights holds one sequence weight in [0, 1] per bucket (len(edges) + 1).
    cold_below: items with fewer training interactions are "cold"; cold_rule "blend"
    treats them like the others, "sequence" scores them by z(sequence) alone (EASE has no
    evidence about them).
    """

    history_edges: tuple[int, ...] = ()
    weights: tuple[float, ...] = (0.5,)
    cold_below: int = 5
    cold_rule: str = "blend"

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.history_edges) + 1:
            raise ValueError(
                f"{len(self.weights)} weights for {len(self.history_edges)} history edges "
                "(need one more weight than edges)"
            )
        if any(not 0.0 <= w <= 1.0 for w in self.weights):
            raise ValueError(f"blend weights must lie in [0, 1], got {self.weights}")
        if self.cold_rule not in ("blend", "sequence"):
            raise ValueError(f"cold_rule must be 'blend' or 'sequence', got {self.cold_rule!r}")

    def user_weights(self, history_lengths: Sequence[int] | np.ndarray) -> np.ndarray:
        """(U,) sequence weight of each user, by history length."""
        bucket = np.searchsorted(
            np.asarray(self.history_edges, dtype=np.int64),
            np.asarray(history_lengths, dtype=np.int64),
            side="left",
        )
        return np.asarray(self.weights, dtype=np.float64)[bucket]

    def to_dict(self) -> dict[str, Any]:
        return {
            "history_edges": list(self.history_edges),
            "weights": list(self.weights),
            "cold_below": self.cold_below,
            "cold_rule": self.cold_rule,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BlendWeights:
        return cls(
            tuple(int(e) for e in d["history_edges"]),
            tuple(float(w) for w in d["weights"]),
            int(d["cold_below"]),
            str(d["cold_rule"]),
        )


def zscore_rows(scores: np.ndarray) -> np.ndarray:
    """(U, I) -> (U, I) float64, each row centred and scaled to unit deviation over the
    catalogue; a constant row (no evidence) becomes all zeros."""
    x = np.asarray(scores, dtype=np.float64)
    centred = x - x.mean(axis=1, keepdims=True)
    std = centred.std(axis=1, keepdims=True)
    return np.divide(centred, std, out=np.zeros_like(centred), where=std > 0)


def blend_scores(
    sequence: np.ndarray,
    ease: np.ndarray,
    history_lengths: Sequence[int] | np.ndarray,
    cold_items: np.ndarray,
    blend: BlendWeights,
) -> np.ndarray:
    """sequence (U, I), ease (U, I), history_lengths (U,), cold_items (I,) bool -> (U, I)
    float64 blended scores."""
    zs, ze = zscore_rows(sequence), zscore_rows(ease)
    w = blend.user_weights(history_lengths)[:, None]  # (U, 1)
    out = w * zs + (1.0 - w) * ze
    if blend.cold_rule == "sequence" and cold_items.any():
        out[:, cold_items] = zs[:, cold_items]
    return out


def top_k(scores: np.ndarray, k: int, exclude: Sequence[int] = ()) -> np.ndarray:
    """The k best item indices of (I,) scores, excluded items never among them; ties go to
    the lower index (a fixed order: the evaluation, which counts ties against the model,
    never credits a tie either way)."""
    allowed = np.ones(len(scores), dtype=bool)
    allowed[list(exclude)] = False
    index = np.flatnonzero(allowed)
    order = np.lexsort((index, -scores[index]))  # by score desc, then index asc
    return index[order[: max(k, 0)]]


@dataclass
class HybridRecommender:
    """The sequence recommender blended with EASE's item-item weights.

    ease_weights (I, I) float32: EASE's B (row: history item, column: scored item).
    item_counts (I,): training interactions per item (cold items, popularity fallback).
    """

    sequence: FineTunedRecommender
    ease_weights: np.ndarray
    item_counts: np.ndarray
    blend: BlendWeights
    train_info: dict[str, Any] = field(default_factory=dict)

    @property
    def item_ids(self) -> list[str]:
        return self.sequence.item_ids

    @property
    def n_items(self) -> int:
        return self.sequence.n_items

    @property
    def cold_items(self) -> np.ndarray:
        return np.asarray(self.item_counts) < self.blend.cold_below

    def to_indices(self, history: Sequence[int | str]) -> list[int]:
        return self.sequence.to_indices(history)

    def ease_scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """(U, I) = binary history matrix @ B (a repeated item counts once)."""
        x = np.zeros((len(histories), self.n_items), dtype=np.float32)
        for row, history in enumerate(histories):
            x[row, list(history)] = 1.0
        return x @ self.ease_weights

    def parts(self, histories: Sequence[Sequence[int | str]]) -> dict[str, np.ndarray]:
        """The two parts' raw (U, I) scores: {"sequence", "ease"}."""
        indexed = [self.to_indices(h) for h in histories]
        return {"sequence": self.sequence.score(indexed), "ease": self.ease_scores(indexed)}

    def score(self, histories: Sequence[Sequence[int | str]]) -> np.ndarray:
        """U histories -> (U, I) blended scores (seen items not masked)."""
        indexed = [self.to_indices(h) for h in histories]
        parts = self.parts(indexed)
        lengths = [len(h) for h in indexed]
        return blend_scores(parts["sequence"], parts["ease"], lengths, self.cold_items, self.blend)

    def recommend(
        self, history: Sequence[int | str] | None, k: int = 10
    ) -> tuple[np.ndarray, np.ndarray, str]:
        """Top-k for one history -> (item ids (k,), scores (k,), source). History items are
        never recommended; a history with no known item gets the popularity fallback."""
        indexed = self.to_indices(history or [])
        if not indexed:
            scores = np.asarray(self.item_counts, dtype=np.float64)
            source = FALLBACK_SOURCE
        else:
            scores = self.score([indexed])[0]
            source = MODEL_SOURCE
        top = top_k(scores, k, exclude=indexed)
        return np.asarray(self.item_ids, dtype=object)[top], scores[top], source
