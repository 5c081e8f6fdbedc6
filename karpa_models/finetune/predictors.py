"""Inference objects of fine-tuned models: what training returns and what `load_*` rebuilds.

Raw inputs in, numpy out: `FineTunedClassifier.predict_proba(texts) -> (n, C)`,
`FineTunedRecommender.score(histories) -> (U, I)` and `.recommend(history, k)`. These are
what a serving wrapper (an MLflow pyfunc model) calls.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from karpa_models.config import ModelConfig
from karpa_models.finetune.text import TextFeatures, encode, length_batches, to_device
from karpa_models.runtime import Runtime

if TYPE_CHECKING:
    from karpa_models.explain.neighbours import NeighbourIndex
    from karpa_models.finetune.recommender import NextItemRecommender

logger = logging.getLogger(__name__)


@dataclass
class FineTunedClassifier:
    """A text classifier with its tokenizer, class names and optional out-of-scope threshold.

    predict_proba(texts) -> (n, C) probabilities over `classes` (column order).
    predict(texts) -> (n,) labels; with `oos_threshold` set, `oos_label` wherever the top
    probability falls below it.
    """

    model: nn.Module  # TextClassifier
    tokenizer: Tokenizer
    classes: list[str]
    model_config: ModelConfig
    max_len: int
    runtime: Runtime
    mode: str = "full"
    oos_threshold: float | None = None
    oos_label: str = "oos"
    train_info: dict[str, Any] = field(default_factory=dict)
    # Frozen features of the same encoder (linear probes): scoring reuses them.
    features: TextFeatures | None = field(default=None, repr=False)
    # Labeled training examples in the model's embedding space (explanations); None for a
    # model saved before karpa stored them.
    neighbours: NeighbourIndex | None = field(default=None, repr=False)

    @torch.no_grad()
    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        model = self.model.eval()
        if self.features is not None:
            x = torch.from_numpy(self.features(texts)).to(self.runtime.device)  # (n, C)
            with self.runtime.autocast():
                logits = model.head(model.head_input(x))
            return torch.softmax(logits.float(), dim=-1).cpu().numpy()
        enc = encode(self.tokenizer, texts, self.max_len)
        out = np.zeros((len(enc), len(self.classes)), dtype=np.float32)
        for rows in length_batches(enc, batch_size):
            ids, mask = to_device(enc, rows, self.runtime.device)
            with self.runtime.autocast():
                logits = model(ids, mask)  # (B, C)
            out[rows] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return out

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        probs = self.predict_proba(texts)
        labels = np.asarray(self.classes, dtype=object)[probs.argmax(axis=1)]
        if self.oos_threshold is not None:
            labels = np.where(probs.max(axis=1) < self.oos_threshold, self.oos_label, labels)
        return labels

    def with_oos_threshold(self, threshold: float, oos_label: str = "oos") -> FineTunedClassifier:
        self.oos_threshold, self.oos_label = float(threshold), oos_label
        return self


@dataclass
class FineTunedRecommender:
    """A next-item recommender over a fixed catalogue.

    Histories are lists of catalogue indices (ints) or item ids (strings, mapped through
    `item_ids`); unknown ids are skipped. score -> (U, I) float32, higher is better.
    """

    model: NextItemRecommender
    model_config: ModelConfig
    item_ids: list[str]
    max_len: int
    runtime: Runtime
    exclude_seen: bool = True
    train_info: dict[str, Any] = field(default_factory=dict)
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {item: i for i, item in enumerate(self.item_ids)}

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def to_indices(self, history: Sequence[int | str]) -> list[int]:
        out = []
        for item in history:
            if isinstance(item, str):
                idx = self._index.get(item)
                if idx is None:
                    logger.debug("unknown item id %r skipped", item)
                    continue
                out.append(idx)
            else:
                idx = int(item)
                if not 0 <= idx < self.n_items:
                    raise ValueError(f"item index {idx} outside the catalogue [0, {self.n_items})")
                out.append(idx)
        return out

    @torch.no_grad()
    def score(self, histories: Sequence[Sequence[int | str]], batch_size: int = 512) -> np.ndarray:
        """U histories -> (U, I) scores of every catalogue item (seen items not masked)."""
        indexed = [self.to_indices(h) for h in histories]
        return self.model.score_histories(indexed, self.max_len, self.runtime, batch_size)

    def recommend(
        self, history: Sequence[int | str], k: int = 10, exclude_seen: bool | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top-k items for one history -> (item ids (k,), scores (k,)), best first."""
        scores = self.score([history])[0]
        if self.exclude_seen if exclude_seen is None else exclude_seen:
            seen = self.to_indices(history)
            scores[seen] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        top = np.argpartition(-scores, k - 1)[:k] if k > 0 else np.zeros(0, dtype=np.int64)
        top = top[np.argsort(-scores[top], kind="stable")]
        return np.asarray(self.item_ids, dtype=object)[top], scores[top].astype(np.float32)
