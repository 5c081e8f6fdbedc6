"""The deletion test of attribution faithfulness (after Samek et al. 2017, "ROAR"-style
deletion without retraining).

For each text, remove its k most-attributed tokens, and separately k random tokens, for
k = 0..max_k, and read the probability of the class the model predicted on the full text.
If the attributions point at what the model uses, the first curve falls faster. Removal
deletes the token from the sequence (the rest closes up), so no out-of-vocabulary filler
is introduced; the special tokens ([CLS] and [SEP], or <s> and </s>) stay. A text with
fewer than k tokens loses all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from karpa_models.explain.tokens import TokenAttribution, top_positions
from karpa_models.tokenizer import SpecialTokens


@dataclass(frozen=True)
class DeletionCurves:
    """top, random: (N, max_k + 1) probability of each text's explained class after
    removing k tokens (column k); random is the mean over `n_random` random orders."""

    top: np.ndarray
    random: np.ndarray

    def per_example_area(self) -> np.ndarray:
        """(N,) mean over k = 1..max_k of random minus top: the area between the curves
        per removed token (positive: removing the attributed tokens hurts more)."""
        return (self.random[:, 1:] - self.top[:, 1:]).mean(axis=1)


def _without(a: TokenAttribution, drop: Sequence[int]) -> list[int]:
    """a's encoded sequence without the content tokens at indices `drop` (into a.ids)."""
    gone = {a.positions[j] for j in drop}
    return [t for i, t in enumerate(a.encoded) if i not in gone]


def deletion_curves(
    model: nn.Module,
    tokenizer: Tokenizer,
    attributions: Sequence[TokenAttribution],
    max_k: int = 5,
    n_random: int = 2,
    seed: int = 0,
    batch_size: int = 256,
) -> DeletionCurves:
    """Both curves for texts already attributed (attribute_tokens); model in eval mode."""
    rng = np.random.default_rng(seed)
    pad = SpecialTokens.of(tokenizer).pad
    variants: list[list[int]] = []  # the encoded sequence of each variant
    for a in attributions:
        order = top_positions(a)
        randoms = [rng.permutation(len(a.ids)) for _ in range(n_random)]
        for k in range(max_k + 1):
            variants.append(_without(a, order[:k].tolist()))
            for perm in randoms:
                variants.append(_without(a, perm[:k].tolist()))
    probs = _probabilities(model, variants, pad, batch_size)
    per_text = (max_k + 1) * (1 + n_random)
    targets = np.repeat([a.target for a in attributions], per_text)
    chosen = probs[np.arange(len(variants)), targets].reshape(len(attributions), max_k + 1, -1)
    return DeletionCurves(top=chosen[:, :, 0], random=chosen[:, :, 1:].mean(axis=2))


@torch.no_grad()
def _probabilities(
    model: nn.Module,
    variants: list[list[int]],
    pad_id: int,
    batch_size: int,
) -> np.ndarray:
    """Encoded sequences -> (V, C) probabilities, in batches padded with pad_id."""
    device = next(model.parameters()).device
    wrapped = variants
    out = []
    for start in range(0, len(wrapped), batch_size):
        chunk = wrapped[start : start + batch_size]
        t = max(1, max(len(w) for w in chunk))
        ids = torch.full((len(chunk), t), pad_id, dtype=torch.long)  # (B, T)
        mask = torch.zeros((len(chunk), t), dtype=torch.bool)  # (B, T)
        for row, w in enumerate(chunk):
            ids[row, : len(w)] = torch.tensor(w, dtype=torch.long)
            mask[row, : max(1, len(w))] = True
        logits = model(ids.to(device), mask.to(device))  # (B, C)
        out.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
    return np.concatenate(out)
