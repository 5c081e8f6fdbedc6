"""Self-supervised objectives, one nn.Module each, and how they are weighted into one loss.

Every objective takes tensors (not the model) and returns `(loss, metrics)`: a scalar loss
and a dict of detached scalar tensors for logging. Heads that exist only for pretraining
(the masked-token and masked-item decoders, the patch decoder, learnable temperatures)
live here, beside the loss that needs them, not in the FoundationModel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IGNORE = -100  # label of positions that carry no target


def info_nce(a: Tensor, b: Tensor, logit_scale: Tensor | float) -> tuple[Tensor, Tensor]:
    """Symmetric InfoNCE: row i of `a` and row i of `b` are a positive pair, every other row
    of the batch is a negative. a, b (N, D), any norm -> (loss, top-1 accuracy)."""
    a = F.normalize(a.float(), dim=-1)
    b = F.normalize(b.float(), dim=-1)
    logits = logit_scale * a @ b.t()  # (N, N)
    labels = torch.arange(len(a), device=a.device)
    loss = 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))
    acc = 0.5 * (
        (logits.argmax(1) == labels).float().mean() + (logits.argmax(0) == labels).float().mean()
    )
    return loss, acc.detach()


class TiedDecoder(nn.Module):
    """Transform + decoder tied to an embedding table (BERT's MLM head).
    h (M, C), table (V, C) -> logits (M, V)."""

    def __init__(self, width: int, vocab: int):
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.ln = nn.LayerNorm(width)
        self.bias = nn.Parameter(torch.zeros(vocab))

    def forward(self, h: Tensor, table: Tensor) -> Tensor:
        return F.linear(self.ln(F.gelu(self.dense(h))), table, self.bias)


def _masked_ce(
    decoder: TiedDecoder, hidden: Tensor, labels: Tensor, table: Tensor
) -> tuple[Tensor, Tensor]:
    """Cross-entropy on the positions whose label is not IGNORE; the others cost nothing,
    not even a decoder pass. hidden (B, T, C), labels (B, T) -> (loss, accuracy)."""
    target = labels != IGNORE  # (B, T)
    if not bool(target.any()):
        return hidden.sum() * 0.0, hidden.new_zeros(())
    h = hidden[target]  # (M, C)
    y = labels[target]  # (M,)
    logits = decoder(h, table).float()  # (M, V)
    loss = F.cross_entropy(logits, y)
    return loss, (logits.argmax(-1) == y).float().mean().detach()


class MaskedTokenLoss(nn.Module):
    """Masked-token modelling. hidden (B, T, C), labels (B, T) with IGNORE on unmasked
    positions, token_embedding (V, C) -> loss."""

    def __init__(self, width: int, vocab: int):
        super().__init__()
        self.decoder = TiedDecoder(width, vocab)

    def forward(
        self, hidden: Tensor, labels: Tensor, token_embedding: Tensor
    ) -> tuple[Tensor, dict]:
        loss, acc = _masked_ce(self.decoder, hidden, labels, token_embedding)
        return loss, {"mlm_acc": acc}


class MaskedItemLoss(nn.Module):
    """Masked-item modelling over the whole catalogue. hidden (B, L, C), labels (B, L) item
    indices or IGNORE, item_table (n_items, C) -> loss."""

    def __init__(self, width: int, n_items: int):
        super().__init__()
        self.decoder = TiedDecoder(width, n_items)

    def forward(self, hidden: Tensor, labels: Tensor, item_table: Tensor) -> tuple[Tensor, dict]:
        loss, acc = _masked_ce(self.decoder, hidden, labels, item_table)
        return loss, {"masked_item_acc": acc}


class SentenceContrastiveLoss(nn.Module):
    """Two views (independently masked, different dropout) of the same texts must find each
    other among the batch. A fixed low temperature (τ=0.05) is what lifted sentence vectors
    in our measurement (STACK.md). view_a, view_b (B, C) -> loss."""

    def __init__(self, temperature: float):
        super().__init__()
        self.temperature = temperature

    def forward(self, view_a: Tensor, view_b: Tensor) -> tuple[Tensor, dict]:
        loss, acc = info_nce(view_a, view_b, 1.0 / self.temperature)
        return loss, {"text_contrastive_acc": acc}


class ContrastiveAlignmentLoss(nn.Module):
    """CLIP's symmetric InfoNCE between two modalities with a learnable temperature.

    The logit scale is clamped to at most `max_scale` (CLIP's 100) because an unbounded
    scale grows until training turns unstable. a, b (N, D) -> loss.
    """

    def __init__(self, name: str, init_temperature: float = 0.07, max_scale: float = 100.0):
        super().__init__()
        self.name = name
        self.max_log_scale = math.log(max_scale)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    def forward(self, a: Tensor, b: Tensor) -> tuple[Tensor, dict]:
        scale = self.logit_scale.clamp(0.0, self.max_log_scale).exp()
        loss, acc = info_nce(a, b, scale)
        return loss, {f"{self.name}_acc": acc, f"{self.name}_logit_scale": scale.detach()}


class MaskedPatchLoss(nn.Module):
    """SimMIM-style reconstruction: predict the pixels of masked patches from the encoder's
    states. hidden (B, N, C), pixels (B, N, P) in [-1, 1], patch_mask (B, N) bool -> loss
    (mean squared error over masked patches only)."""

    def __init__(self, width: int, patch_dim: int):
        super().__init__()
        self.decoder = nn.Linear(width, patch_dim)

    def forward(self, hidden: Tensor, pixels: Tensor, patch_mask: Tensor) -> tuple[Tensor, dict]:
        err = (self.decoder(hidden).float() - pixels.float()).pow(2).mean(-1)  # (B, N)
        m = patch_mask.float()
        loss = (err * m).sum() / m.sum().clamp(min=1.0)
        return loss, {}


class LossWeighting(nn.Module):
    """Combine per-objective losses into one scalar.

    static: Σ w_i L_i with the configured weights.
    uncertainty (Kendall, Gal & Cipolla 2018): Σ exp(-s_i) L_i + s_i with a learned
    s_i = log σ_i² per objective, so that noisy or large losses are down-weighted
    automatically instead of by hand-tuned weights.
    """

    def __init__(self, names: list[str], mode: str, weights: dict[str, float]):
        super().__init__()
        self.names = list(names)
        self.mode = mode
        self.static = {n: float(weights.get(n, 0.0)) for n in self.names}
        if mode == "uncertainty":
            self.log_vars = nn.ParameterDict({n: nn.Parameter(torch.zeros(())) for n in self.names})

    def forward(self, losses: dict[str, Tensor]) -> tuple[Tensor, dict]:
        total = None
        metrics = {}
        for name, loss in losses.items():
            if self.mode == "uncertainty":
                s = self.log_vars[name]
                term = torch.exp(-s) * loss + s
                metrics[f"weight_{name}"] = torch.exp(-s).detach()
            else:
                term = self.static[name] * loss
            total = term if total is None else total + term
        if total is None:
            raise ValueError("no objective produced a loss this step")
        return total, metrics
