"""Nearest labeled training examples in a fine-tuned classifier's embedding space.

The space is the one the classifier's head reads (its pooled, and for probes normalised,
sentence vector), so a neighbour is a training text the model itself sees as alike.
Vectors are stored L2-normalised in float16 (cosine similarity is a dot product) beside
the label index and the text of each example; the caller decides which texts may be
stored (karpa stores texts that validation has scrubbed of personal data).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from karpa_models.finetune.text import encode, encode_pooled
from karpa_models.runtime import Runtime

VECTORS = "neighbours.npz"
TEXTS = "neighbours.json"


@dataclass
class NeighbourIndex:
    """vectors (N, C) float16 L2-normalised, labels (N,) class indices, texts (N,)."""

    vectors: np.ndarray
    labels: np.ndarray
    texts: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def nearest(self, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """queries (Q, C) -> per query the k nearest rows as (row, cosine), best first."""
        q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
        sims = q.astype(np.float32) @ self.vectors.astype(np.float32).T  # (Q, N)
        k = min(k, len(self))
        out = []
        for row in sims:
            best = np.argpartition(-row, k - 1)[:k] if k > 0 else np.zeros(0, dtype=np.int64)
            best = best[np.argsort(-row[best], kind="stable")]
            out.append([(int(i), float(row[i])) for i in best])
        return out

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        np.savez(folder / VECTORS, vectors=self.vectors, labels=self.labels)
        tmp = folder / f".{TEXTS}.tmp"
        tmp.write_text(json.dumps({"texts": self.texts}))
        os.replace(tmp, folder / TEXTS)

    @classmethod
    def load(cls, folder: str | Path) -> NeighbourIndex | None:
        """The index saved in `folder`, or None when the model was saved without one."""
        folder = Path(folder)
        if not (folder / VECTORS).is_file() or not (folder / TEXTS).is_file():
            return None
        with np.load(folder / VECTORS, allow_pickle=False) as data:
            vectors, labels = data["vectors"], data["labels"]
        texts = list(json.loads((folder / TEXTS).read_text())["texts"])
        return cls(vectors=vectors, labels=labels, texts=texts)


def sentence_vectors(
    model: nn.Module, tokenizer: Tokenizer, texts: Sequence[str], max_len: int, runtime: Runtime
) -> np.ndarray:
    """A TextClassifier's head-input vectors of `texts`: (N, C) float32."""
    vectors = encode_pooled(model.text, encode(tokenizer, texts, max_len), runtime)
    with torch.no_grad():
        return model.head_input(torch.from_numpy(vectors)).numpy()


def build_index(
    model: nn.Module,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    labels: Sequence[int],
    max_len: int,
    runtime: Runtime,
) -> NeighbourIndex:
    """The index of labeled texts (labels: class indices) in `model`'s embedding space."""
    vectors = sentence_vectors(model, tokenizer, texts, max_len, runtime)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return NeighbourIndex(
        vectors=vectors.astype(np.float16),
        labels=np.asarray(labels, dtype=np.int64),
        texts=[str(t) for t in texts],
    )
