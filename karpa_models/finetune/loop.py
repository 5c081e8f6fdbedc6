"""Plumbing shared by the fine-tuning loops: early stopping that keeps the best weights,
and the finite-loss guard (optimiser, schedule and seeding: karpa_models.optim)."""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from karpa_models.engine import NonFiniteLossError

logger = logging.getLogger(__name__)

MetricsCallback = Callable[[dict[str, float], int], None]


def check_finite(loss: torch.Tensor, step: int, what: str) -> float:
    """The loss as a float; raises before the weights change if it is NaN or infinite."""
    value = float(loss.detach())
    if not math.isfinite(value):
        raise NonFiniteLossError(
            f"{what}: non-finite loss ({value}) at step {step}; the weights were not updated "
            "(lower the learning rate or check the inputs)"
        )
    return value


@dataclass
class EarlyStopping:
    """Track a validation metric (higher is better); keep a CPU copy of the best weights.

    `update` returns True when `patience` validations in a row brought no improvement.
    tiebreak (higher is better, e.g. minus the validation loss) decides between equal
    metric values: a small validation set saturates (macro-F1 of 1.0) long before the
    model stops getting more confident, and the later, surer model is the better one.
    """

    patience: int
    best: float = -math.inf
    best_tiebreak: float = -math.inf
    best_step: int = 0
    bad_rounds: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    _state: dict[str, torch.Tensor] | None = None

    def update(self, value: float, step: int, module: nn.Module, tiebreak: float = 0.0) -> bool:
        self.history.append({"step": float(step), "value": float(value)})
        better = (value, tiebreak) > (self.best, self.best_tiebreak)
        if better or self._state is None:
            self.best, self.best_tiebreak, self.best_step = float(value), float(tiebreak), step
            self.bad_rounds = 0
            self._state = {k: v.detach().to("cpu", copy=True) for k, v in _trainable_state(module)}
            return False
        self.bad_rounds += 1
        return self.bad_rounds >= self.patience

    def restore(self, module: nn.Module) -> None:
        """Load the best weights back into `module` (only what can change in training)."""
        if self._state is None:
            return
        module.load_state_dict(self._state, strict=False)


def _trainable_state(module: nn.Module) -> Iterable[tuple[str, torch.Tensor]]:
    # Frozen parameters and fixed buffers never change, so copying them is wasted memory;
    # buffers that training can update (none today) would need copying too.
    trainable = {name for name, p in module.named_parameters() if p.requires_grad}
    return ((k, v) for k, v in module.state_dict().items() if k in trainable)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy whose parameters do not require grad (the original is left as it was)."""
    clone = copy.deepcopy(module)
    for p in clone.parameters():
        p.requires_grad_(False)
    return clone.eval()


def steps_plan(
    n_examples: int, batch_size: int, epochs: int, min_steps: int, max_steps: int | None
) -> int:
    """Total optimiser steps: whole epochs, raised to min_steps, cut at max_steps."""
    per_epoch = max(1, math.ceil(n_examples / batch_size))
    total = max(per_epoch * epochs, min_steps)
    return min(total, max_steps) if max_steps is not None else total


def eval_points(per_epoch: int, evals: int) -> set[int]:
    """Batch positions within an epoch after which validation runs (the last included)."""
    evals = min(evals, per_epoch)
    return {math.ceil(per_epoch * (i + 1) / evals) - 1 for i in range(evals)}
