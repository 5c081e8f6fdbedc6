"""Few-label tuning of a text tower with a supervised contrastive loss (SetFit's idea).

With a handful of labels per class, a head trained on frozen sentence vectors can only
draw lines through the space pretraining made. A few dozen steps of supervised
contrastive learning (Khosla et al. 2020) first pull the pooled vectors of same-class
texts together and push other classes away, on the labeled texts alone; a linear probe
is then fitted on the tuned vectors. Every labeled pair is a training signal (n² pairs
from n texts), which is why this suits the few-label regime (Tunstall et al. 2022).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import Tensor, nn

from karpa_models.finetune.config import ClassifierConfig
from karpa_models.finetune.loop import check_finite
from karpa_models.finetune.text import encode, pooled, to_device
from karpa_models.progress import Progress
from karpa_models.runtime import Runtime

logger = logging.getLogger(__name__)


def supervised_contrastive_loss(z: Tensor, y: Tensor, temperature: float) -> Tensor:
    """z (B, C) any norm, y (B,) class indices -> mean over anchors that have a positive of
    -mean log p(positive | anchor), the softmax taken over every other row of the batch."""
    z = F.normalize(z.float(), dim=-1)
    sim = z @ z.t() / temperature  # (B, B)
    self_pair = torch.eye(len(y), dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_pair, float("-inf"))
    positive = (y[:, None] == y[None, :]) & ~self_pair  # (B, B)
    log_p = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    per_anchor = -log_p.masked_fill(~positive, 0.0).sum(1) / positive.sum(1).clamp(min=1)
    has_positive = positive.any(1)
    if not bool(has_positive.any()):
        return z.sum() * 0.0
    return per_anchor[has_positive].mean()


def contrastive_rows(
    y: np.ndarray, batch: int, per_class: int, rng: np.random.Generator
) -> np.ndarray:
    """One contrastive batch's rows, sorted. y (N,) class indices. per_class 0: `batch`
    rows drawn uniformly (at most N). Otherwise batch // per_class classes among those with
    two texts or more (all of them when fewer), and per_class texts of each (all when it
    has fewer): every text then has a same-class partner in the batch."""
    paired = y[:0]  # classes with two texts or more; only balanced batches need them
    if per_class:
        classes, counts = np.unique(y, return_counts=True)
        paired = classes[counts >= 2]
    if len(paired) == 0:  # uniform, or no class with a pair (no positive either way)
        return np.sort(rng.choice(len(y), size=min(batch, len(y)), replace=False))
    # per_class <= batch (ClassifierConfig checks it): at least one class per batch.
    chosen = rng.choice(paired, size=min(batch // per_class, len(paired)), replace=False)
    rows = []
    for c in chosen:
        members = np.flatnonzero(y == c)
        rows.append(rng.choice(members, size=min(per_class, len(members)), replace=False))
    return np.sort(np.concatenate(rows))


def contrastive_tune(
    text: nn.Module,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    y: np.ndarray,
    max_len: int,
    cfg: ClassifierConfig,
    runtime: Runtime,
    name: str = "classifier",
) -> list[float]:
    """Tune `text` in place: cfg.contrastive_steps AdamW steps, each on a random batch of
    at most cfg.contrastive_batch labeled texts (contrastive_rows: uniform, or
    cfg.contrastive_per_class texts per class; dropout on, as augmentation).
    texts: N strings, y (N,) class indices -> the loss of every step."""
    enc = encode(tokenizer, texts, max_len)
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(runtime.device)
    opt = torch.optim.AdamW(text.parameters(), lr=cfg.contrastive_lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    y = np.asarray(y)
    losses = []
    # A line each quarter, as the fine-tunes write: from a large start on a CPU this stage
    # alone takes many minutes (all-mpnet-base-v2 on Banking77's 10-shot subsets).
    total = cfg.contrastive_steps
    progress = Progress(
        f"{name} contrastive tuning", total, every=max(1, total // 4), logger=logger
    )
    text.train()
    for step in range(cfg.contrastive_steps):
        rows = contrastive_rows(y, cfg.contrastive_batch, cfg.contrastive_per_class, rng)
        ids, mask = to_device(enc, rows, runtime.device)
        with runtime.autocast():
            z = pooled(text, ids, mask)  # (B, C)
        loss = supervised_contrastive_loss(
            z, labels[torch.from_numpy(rows)], cfg.contrastive_temperature
        )
        losses.append(check_finite(loss, step + 1, name))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(text.parameters(), cfg.grad_clip)
        opt.step()
        progress.update(step + 1, detail=f"loss {losses[-1]:.3f}")
    opt.zero_grad(set_to_none=True)  # the tuned copy keeps its weights, not their gradients
    text.eval()
    if losses:
        logger.debug("%s: contrastive tuning %.3f -> %.3f", name, losses[0], losses[-1])
    return losses
