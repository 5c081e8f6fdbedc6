"""The text side of fine-tuning: rebuilding a text tower from its config, encoding texts
into pooled sentence vectors in length-sorted batches, and a memo of frozen features.

The sentence vector is the mean over real token states (B, C), the same vector the
sentence-level contrastive objective shaped in pretraining, so a linear probe reads
exactly what pretraining organised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import Tensor, nn

from karpa_models.config import ModelConfig
from karpa_models.layers import mean_pool
from karpa_models.runtime import Runtime
from karpa_models.tokenizer import EncodedTexts, encode_texts
from karpa_models.towers import TextTower

logger = logging.getLogger(__name__)


def build_text_tower(cfg: ModelConfig) -> nn.Module:
    """A text tower of `cfg`'s architecture with fresh weights (to be loaded or trained)."""
    if cfg.text_init:
        from karpa_models.hf_text import HFTextTower

        if cfg.text.hf_config is None:
            raise ValueError("cfg.text.hf_config is unset: resolve text_init with build_model()")
        return HFTextTower(cfg.text.hf_config, cfg.text.max_len, None)
    return TextTower(cfg.text)


def clean_texts(texts: Sequence[str | None]) -> list[str]:
    """Missing texts become empty strings (which still encode as [CLS] [SEP])."""
    return ["" if t is None or t != t else str(t) for t in texts]  # t != t: NaN


def encode(tokenizer: Tokenizer, texts: Sequence[str | None], max_len: int) -> EncodedTexts:
    return encode_texts(tokenizer, clean_texts(texts), max_len)


# An inference batch's padded tokens at most: its activations grow with rows x longest
# row (and attention with its square), so a batch of the longest texts holds fewer rows
# instead of several times a short batch's memory (Banking77's training messages: 13 MiniLM
# tokens at the median, 44 to 98 for the longest 256).
MAX_BATCH_TOKENS = 8192


def length_batches(
    enc: EncodedTexts, batch_size: int, max_tokens: int = MAX_BATCH_TOKENS
) -> Iterator[np.ndarray]:
    """Row indices in batches of similar length: padding, and so attention, is minimal.
    A batch has at most batch_size rows and at most max_tokens padded tokens (rows x its
    longest row), and always at least one row."""
    order = np.argsort(enc.lengths, kind="stable")
    start = 0
    while start < len(order):
        # Ascending lengths: the first n rows' batch is n x the n-th row's length.
        lengths = np.maximum(enc.lengths[order[start : start + batch_size]], 1)
        rows = np.arange(1, len(lengths) + 1)
        fits = int(np.count_nonzero(rows * lengths <= max_tokens))
        end = start + max(1, fits)
        yield order[start:end]
        start = end


def to_device(enc: EncodedTexts, rows: np.ndarray, device: torch.device) -> tuple[Tensor, Tensor]:
    ids, mask = enc.take(rows)  # (B, T), (B, T)
    return torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)


def pooled(text: nn.Module, ids: Tensor, mask: Tensor) -> Tensor:
    """ids (B, T), mask (B, T) -> mean-pooled sentence vectors (B, C)."""
    return mean_pool(text(ids, mask), mask)


@torch.no_grad()
def encode_pooled(
    text: nn.Module,
    enc: EncodedTexts,
    runtime: Runtime,
    batch_size: int = 256,
) -> np.ndarray:
    """Pooled vectors of every encoded text, in eval mode: (N, C) float32."""
    was_training = text.training
    text.eval()
    out = np.zeros((len(enc), text.width), dtype=np.float32)
    try:
        for rows in length_batches(enc, batch_size):
            ids, mask = to_device(enc, rows, runtime.device)
            with runtime.autocast():
                vec = pooled(text, ids, mask)
            out[rows] = vec.float().cpu().numpy()
    finally:
        text.train(was_training)
    return out


class TextFeatures:
    """Frozen pooled features of a text tower, memoised per text.

    A linear probe and every k-shot run of a learning curve read the same frozen vectors;
    computing each text's vector once makes those runs cost a head's training only.
    The tower must not change while this memo is in use (it holds a frozen copy's output).
    """

    def __init__(self, text: nn.Module, tokenizer: Tokenizer, max_len: int, runtime: Runtime):
        self.text = text
        self.tokenizer = tokenizer
        self.max_len = max_len
        self.runtime = runtime
        self._memo: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str | None]) -> np.ndarray:
        """N texts -> (N, C) float32 pooled vectors."""
        texts = clean_texts(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            enc = encode_texts(self.tokenizer, missing, self.max_len)
            vectors = encode_pooled(self.text, enc, self.runtime)
            self._memo.update(zip(missing, vectors, strict=True))
            logger.debug("encoded %d new texts (%d memoised)", len(missing), len(self._memo))
        if not texts:
            return np.zeros((0, self.text.width), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])
