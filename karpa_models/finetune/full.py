"""Full fine-tuning of a text classifier: the step loop the plain and the DP recipe share.

Both fine-tune the whole TextClassifier (the encoder at lr * encoder_lr_scale, the new
head at lr) for steps_plan's steps on a warmup-cosine schedule, validate
`evals_per_epoch` times an epoch, stop after `patience` validations without improvement
and restore the best weights, reporting through `on_metrics` and progress lines. They
differ only in how a batch is drawn, how its loss is formed and how the optimiser steps:
`train_full` below (length-grouped batches, AdamW with a global gradient clip) and
private.py's `train_full_private` (Poisson batches, DP-SGD under Opacus).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from karpa_models.finetune.config import ClassifierConfig
from karpa_models.finetune.loop import (
    EarlyStopping,
    MetricsCallback,
    check_finite,
    eval_points,
    steps_plan,
)
from karpa_models.finetune.sequences import length_grouped
from karpa_models.finetune.text import encode, to_device
from karpa_models.optim import adamw, warmup_cosine
from karpa_models.progress import Progress
from karpa_models.runtime import Runtime
from karpa_models.tokenizer import EncodedTexts

logger = logging.getLogger(__name__)

_SHORT = {"epsilon": "ε"}  # how an extra metric reads in a progress line


@dataclass(frozen=True)
class FullFineTune:
    """One full fine-tune, as both recipes receive it. model: a TextClassifier (ids (B, T),
    mask (B, T) -> logits (B, C)); y_train, y_val: class indices; weights: (C,) class
    weights of the loss, or None; on_metrics gets `{name}/...` metrics with the step."""

    model: nn.Module
    tokenizer: Tokenizer
    train_texts: Sequence[str]
    y_train: np.ndarray
    val_texts: Sequence[str]
    y_val: np.ndarray
    weights: Tensor | None
    max_len: int
    cfg: ClassifierConfig
    runtime: Runtime
    on_metrics: MetricsCallback | None
    name: str
    # Validate the untrained model first, as step 0: a fine-tune whose head starts trained
    # (mode probe_full) then never returns weights worse on validation than its start.
    validate_first: bool = False

    def total_steps(self) -> int:
        c = self.cfg
        return steps_plan(len(self.y_train), c.batch_size, c.epochs, c.min_steps, c.max_steps)

    def optimizer(self) -> Optimizer:
        """AdamW over the whole model: the encoder at lr * encoder_lr_scale, the head at lr."""
        groups = [
            (self.model.text.parameters(), self.cfg.lr * self.cfg.encoder_lr_scale),
            (self.model.head.parameters(), self.cfg.lr),
        ]
        return adamw(groups, self.cfg.weight_decay, self.runtime.device)


def val_metric(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, metric: str) -> float:
    """Accuracy, or macro-F1 over the classes present in y_true or y_pred."""
    if metric == "accuracy":
        return float(np.mean(y_true == y_pred))
    tp = np.bincount(y_true[y_true == y_pred], minlength=n_classes).astype(float)
    true = np.bincount(y_true, minlength=n_classes).astype(float)
    pred = np.bincount(y_pred, minlength=n_classes).astype(float)
    present = (true + pred) > 0
    f1 = 2 * tp[present] / (true[present] + pred[present])
    return float(f1.mean()) if f1.size else 0.0


@torch.no_grad()
def val_predict(
    model: nn.Module,
    val: EncodedTexts,
    y: Tensor,
    weights: Tensor | None,
    runtime: Runtime,
    batch_size: int = 256,
) -> tuple[np.ndarray, float]:
    """-> validation predictions (n,) and the mean (class-weighted) cross-entropy."""
    model.eval()
    logits = torch.zeros(len(val), model.head.out_features, device=y.device)  # (n, C)
    order = np.argsort(val.lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        with runtime.autocast():
            out = model(*to_device(val, rows, runtime.device))
        logits[torch.from_numpy(rows).to(y.device)] = out.float()
    loss = F.cross_entropy(logits, y, weight=weights)
    return logits.argmax(-1).cpu().numpy(), float(loss)


def run_steps(
    job: FullFineTune,
    opt: Optimizer,
    epoch: Callable[[], Iterable[np.ndarray]],
    per_epoch: int,
    loss_of: Callable[[np.ndarray], Tensor],
    val: EncodedTexts,
    *,
    grad_clip: float | None,
    extra: Callable[[], dict[str, float]] | None = None,
    what: str = "fine-tune",
) -> dict[str, Any]:
    """The shared loop: `epoch()` yields one epoch's batches of train rows (`per_epoch` of
    them), `loss_of(rows)` is a batch's loss, `opt` steps (after a global clip to
    `grad_clip` when given); `extra()` adds metrics at each validation. The best weights
    end up in job.model. -> the training summary."""
    cfg, model = job.cfg, job.model
    total = job.total_steps()
    sched = LambdaLR(opt, warmup_cosine(total, int(cfg.warmup_ratio * total), cfg.min_lr_ratio))
    eval_at = eval_points(per_epoch, cfg.evals_per_epoch)
    stopper = EarlyStopping(cfg.patience)
    y_val_t = torch.from_numpy(job.y_val).to(job.runtime.device)
    step, stopped, losses = 0, False, []

    def validate() -> tuple[float, float, bool]:
        """-> the validation metric and loss, and whether early stopping says stop."""
        pred, val_loss = val_predict(model, val, y_val_t, job.weights, job.runtime)
        value = val_metric(job.y_val, pred, model.head.out_features, cfg.metric)
        return value, val_loss, stopper.update(value, step, model, tiebreak=-val_loss)

    if job.validate_first:
        start, _, _ = validate()
        logger.info("%s: val %s %.4f before the first step", job.name, cfg.metric, start)
    progress = Progress(f"{job.name} {what}", total, every=max(1, total // 4), logger=logger)
    while step < total and not stopped:
        for b, rows in enumerate(epoch()):
            model.train()
            loss = loss_of(rows)
            losses.append(check_finite(loss, step + 1, job.name))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            sched.step()
            step += 1
            if b in eval_at or step == total:
                value, val_loss, stopped = validate()
                more = extra() if extra is not None else {}
                if job.on_metrics is not None:
                    job.on_metrics(
                        {
                            f"{job.name}/train_loss": float(np.mean(losses)),
                            f"{job.name}/lr": opt.param_groups[-1]["lr"],
                            f"{job.name}/val_{cfg.metric}": value,
                            f"{job.name}/val_loss": val_loss,
                            **{f"{job.name}/{k}": v for k, v in more.items()},
                        },
                        step,
                    )
                losses = []
                progress.detail = ", ".join(
                    [
                        f"val {cfg.metric} {value:.3f}",
                        *(f"{_SHORT.get(k, k)} {v:.2f}" for k, v in more.items()),
                    ]
                )
            progress.update(step)
            if stopped or step >= total:
                break
    # The last step's gradients would otherwise live as long as the model: a second copy
    # of its weights in every classifier kept (a learning curve keeps several).
    opt.zero_grad(set_to_none=True)
    stopper.restore(model)
    return {
        "steps": step,
        "planned_steps": total,
        "best_step": stopper.best_step,
        f"best_val_{cfg.metric}": stopper.best,
        "early_stopped": stopped,
        "history": stopper.history,
    }


def train_full(job: FullFineTune) -> dict[str, Any]:
    """Minibatch AdamW on the whole model with a global gradient clip, on batches of texts
    of similar length (random batches of chat messages pad to about 1.7x their mean
    length); the best weights are restored into job.model. -> the training summary."""
    cfg, runtime = job.cfg, job.runtime
    train = encode(job.tokenizer, job.train_texts, job.max_len)
    val = encode(job.tokenizer, job.val_texts, job.max_len)
    y_train_t = torch.from_numpy(job.y_train).to(runtime.device)
    rng = np.random.default_rng(cfg.seed)

    def loss_of(rows: np.ndarray) -> Tensor:
        with runtime.autocast():
            logits = job.model(*to_device(train, rows, runtime.device))  # (B, C)
        return F.cross_entropy(logits.float(), y_train_t[rows], weight=job.weights)

    return run_steps(
        job,
        job.optimizer(),
        lambda: length_grouped(train.lengths, cfg.batch_size, rng),
        len(length_grouped(train.lengths, cfg.batch_size, np.random.default_rng(0))),
        loss_of,
        val,
        grad_clip=cfg.grad_clip,
    )
