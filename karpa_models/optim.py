"""Training utilities shared by pretraining and every fine-tune: seeding, AdamW with
weight decay on matrices only, and the warmup-cosine learning-rate schedule."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import nn


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def adamw(
    groups: Iterable[tuple[Iterable[nn.Parameter], float]],
    weight_decay: float,
    device: torch.device,
) -> torch.optim.AdamW:
    """AdamW over (parameters, lr) groups, with decay on matrices only (norms, biases and
    scalars are not shrunk towards zero)."""
    param_groups = []
    for params, lr in groups:
        trainable = [p for p in params if p.requires_grad]
        for decay in (True, False):
            chosen = [p for p in trainable if (p.ndim >= 2) == decay]
            if chosen:
                param_groups.append(
                    {"params": chosen, "lr": lr, "weight_decay": weight_decay if decay else 0.0}
                )
    if not param_groups:
        raise ValueError("nothing to train: every parameter is frozen")
    return torch.optim.AdamW(param_groups, betas=(0.9, 0.98), fused=device.type == "cuda")


def warmup_cosine(total: int, warmup: int, min_ratio: float) -> Callable[[int], float]:
    """Learning-rate multiplier per step: linear warmup to 1, cosine decay to min_ratio."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor
