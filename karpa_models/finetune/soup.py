"""Model soups: several fine-tunes of one start, their weights averaged (Wortsman et al. 2022).

Fine-tunes that start from the same pretrained weights and differ only in their seed (the
order of their batches, their dropout, the probe's unlabeled sample) tend to end in one
basin of the loss, where the average of their weights is often better than each, much as
an ensemble of them would be, at the cost of one model at inference. Not always: the
uniform average of four 10-shot Banking77 fine-tunes was below one of them on validation
(README, "Few labels: LP-FT from a pretrained start"). The greedy soup adds the
fine-tunes in order of their validation figure and keeps each only if the soup's
validation figure does not drop, so it is never worse on validation than the best
fine-tune alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)


def average(states: Sequence[dict[str, Tensor]]) -> dict[str, Tensor]:
    """The element-wise mean of the float tensors of `states`; the rest (integer buffers)
    as in the first."""
    return {
        k: torch.stack([s[k] for s in states]).mean(0) if v.is_floating_point() else v
        for k, v in states[0].items()
    }


@torch.no_grad()
def greedy_soup(
    model: nn.Module,
    states: Sequence[dict[str, Tensor]],
    vals: Sequence[float],
    score: Callable[[], float],
) -> dict[str, object]:
    """Leave in `model` the greedy soup of `states` (the fine-tunes' weights, `vals` their
    validation figures, higher better): the best first, then each other in order of its
    figure, kept where the soup's figure (score(): of the weights in `model`) does not
    drop. -> {"kept": the kept fine-tunes' indices, in order of joining, "val": the soup's
    figure, "vals": each fine-tune's}."""
    if len(states) != len(vals) or not states:
        raise ValueError(f"greedy_soup: {len(states)} weight sets for {len(vals)} figures")
    order = sorted(range(len(states)), key=lambda i: -vals[i])
    kept, best = [order[0]], vals[order[0]]
    for i in order[1:]:
        model.load_state_dict(average([states[j] for j in [*kept, i]]))
        trial = score()
        if trial >= best:
            kept, best = [*kept, i], trial
    model.load_state_dict(average([states[j] for j in kept]))
    logger.info(
        "model soup: %d of %d fine-tunes kept (val %.4f; alone %s)",
        len(kept),
        len(states),
        best,
        ", ".join(f"{v:.4f}" for v in vals),
    )
    return {"kept": kept, "val": best, "vals": list(vals)}
