"""The linear probe: multinomial logistic regression on frozen sentence vectors.

Fitted full-batch with L-BFGS on standardised features (the protocol of CLIP's linear
probes), once per L2 strength of a small grid; the strength with the best validation
metric wins. The problem is convex, so there is no schedule and no early stopping to
tune, and a fit costs a few dozen full-batch passes instead of thousands of minibatch
steps. The standardisation is folded into the returned weights, so the head applies to
raw features.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

logger = logging.getLogger(__name__)


def _fit_one(
    x: Tensor, y: Tensor, n_classes: int, l2: float, weights: Tensor | None, max_iter: int
) -> tuple[Tensor, Tensor]:
    """x (N, C) standardised, y (N,) -> W (K, C), b (K,) minimising mean CE + l2 ||W||^2."""
    W = torch.zeros(n_classes, x.shape[1], dtype=x.dtype, device=x.device, requires_grad=True)
    b = torch.zeros(n_classes, dtype=x.dtype, device=x.device, requires_grad=True)
    opt = torch.optim.LBFGS(
        [W, b], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(F.linear(x, W, b), y, weight=weights) + l2 * W.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return W.detach(), b.detach()


def fit_linear_probe(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    n_classes: int,
    metric: Callable[[np.ndarray, np.ndarray], float],
    l2_grid: Sequence[float],
    max_iter: int = 100,
    weights: Tensor | None = None,
    device: torch.device | None = None,
    normalize: bool = False,
) -> tuple[Tensor, Tensor, dict[str, float]]:
    """x_* (N, C) float32 features, y_* (N,) class indices -> W (K, C), b (K,) for raw
    features, and {"l2", "val"} of the chosen strength (validation by `metric`).

    normalize: fit on L2-normalised rows instead of standardised columns; W and b then
    apply to L2-normalised features (the caller normalises). With a few labels per class,
    per-column statistics of a hundred examples are noise that standardising amplifies.
    """
    device = device or torch.device("cpu")
    if normalize:
        x_train, x_val = l2_normalize(x_train), l2_normalize(x_val)
        mean = np.zeros(x_train.shape[1], dtype=x_train.dtype)
        std = np.ones(x_train.shape[1], dtype=x_train.dtype)
    else:
        mean = x_train.mean(axis=0)
        std = x_train.std(axis=0) + 1e-6  # a constant feature must not divide by zero
    xt = torch.from_numpy((x_train - mean) / std).to(device)
    xv = torch.from_numpy((x_val - mean) / std).to(device)
    yt = torch.from_numpy(y_train).to(device)
    best: tuple[float, float, Tensor, Tensor] | None = None
    for l2 in l2_grid:
        W, b = _fit_one(xt, yt, n_classes, l2, weights, max_iter)
        with torch.no_grad():
            pred = F.linear(xv, W, b).argmax(-1).cpu().numpy()
        value = metric(y_val, pred)
        logger.debug("linear probe l2=%g: val %.4f", l2, value)
        if best is None or value > best[1]:
            best = (l2, value, W, b)
    if best is None:
        raise ValueError("the linear probe needs at least one L2 strength")
    l2, value, W, b = best
    # W z + b with z = (x - mean) / std is (W / std) x + (b - W mean / std).
    std_t = torch.from_numpy(std).to(device)
    mean_t = torch.from_numpy(mean).to(device)
    W_raw = W / std_t
    b_raw = b - W_raw @ mean_t
    return W_raw, b_raw, {"l2": float(l2), "val": float(value)}


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """(N, C) rows scaled to unit length (a zero row stays zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
