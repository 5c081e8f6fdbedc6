"""Weight-space ensembles of a fine-tune and its start (WiSE-FT, Wortsman et al. 2022).

A fine-tune that starts from a good model (probe_full: the fitted probe on the frozen
encoder) ends somewhere along a path from it; mixing the two weight sets,
(1 - alpha) * start + alpha * end, often lands on a model better than either, at no cost at
inference (still one model). Which mixing weight, if any, is chosen on validation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)


def snapshot(model: nn.Module) -> dict[str, Tensor]:
    """A detached copy of the model's weights (the start to mix with)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@torch.no_grad()
def choose_mix(
    model: nn.Module,
    start: dict[str, Tensor],
    alphas: Sequence[float],
    score: Callable[[], float],
) -> dict[str, object]:
    """Score the model as it is (alpha 1) and each mix of `start` with it; leave the best
    on validation in `model` (ties: the larger alpha, the fine-tune first). score(): the
    current weights' validation figure, higher is better. -> {"alpha", "val", "grid"}."""
    end = snapshot(model)
    grid = {1.0: score()}
    for alpha in sorted(set(alphas), reverse=True):
        model.load_state_dict(_mix(start, end, alpha))
        grid[alpha] = score()
    best = max(grid, key=lambda a: (grid[a], a))
    model.load_state_dict(end if best == 1.0 else _mix(start, end, best))
    logger.info(
        "weight-space mix: alpha %g kept (val %.4f; %s)",
        best,
        grid[best],
        ", ".join(f"{a:g}: {v:.4f}" for a, v in sorted(grid.items())),
    )
    return {"alpha": best, "val": grid[best], "grid": {str(a): v for a, v in grid.items()}}


def _mix(start: dict[str, Tensor], end: dict[str, Tensor], alpha: float) -> dict[str, Tensor]:
    """(1 - alpha) * start + alpha * end for float tensors; the rest as in `end`."""
    return {
        k: torch.lerp(start[k], v, alpha) if v.is_floating_point() else v for k, v in end.items()
    }
