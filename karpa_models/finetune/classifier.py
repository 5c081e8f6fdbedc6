"""Text classification from the foundation's text tower.

TextClassifier: text tower -> mean-pooled sentence vector (B, C) -> dropout -> linear head.
`train_classifier` fine-tunes it. "full": everything trains, the encoder at a lower
learning rate, with AdamW, warmup and cosine decay, and early stopping on a validation
metric that restores the best weights. "linear_probe": the encoder is frozen, its
features are computed once and the head is a logistic regression on them (probe.py).
"contrastive_probe": the encoder copy is first tuned on the labeled texts with a
supervised contrastive loss (contrastive.py), then probed the same way.
Both take optional inverse-frequency class weights.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR

from karpa_models.finetune.config import ClassifierConfig
from karpa_models.finetune.contrastive import contrastive_tune
from karpa_models.finetune.loop import (
    EarlyStopping,
    MetricsCallback,
    check_finite,
    eval_points,
    steps_plan,
)
from karpa_models.finetune.predictors import FineTunedClassifier
from karpa_models.finetune.probe import fit_linear_probe
from karpa_models.finetune.sequences import length_grouped
from karpa_models.finetune.text import TextFeatures, encode, pooled, to_device
from karpa_models.layers import init_weights
from karpa_models.model import FoundationModel
from karpa_models.optim import adamw, seed_everything, warmup_cosine
from karpa_models.progress import Progress
from karpa_models.runtime import Runtime, init_runtime

logger = logging.getLogger(__name__)


class TextClassifier(nn.Module):
    """ids (B, T) int64, mask (B, T) bool -> logits (B, n_classes)."""

    def __init__(
        self, text: nn.Module, n_classes: int, dropout: float = 0.1, normalize: bool = False
    ):
        super().__init__()
        self.text = text
        self.normalize = normalize  # the head reads L2-normalised vectors (probe_normalize)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(text.width, n_classes)
        init_weights(self.head)

    def head_input(self, vectors: Tensor) -> Tensor:
        """Pooled vectors (B, C) as the head reads them."""
        return F.normalize(vectors, dim=-1) if self.normalize else vectors

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        vectors = self.head_input(pooled(self.text, ids, mask))  # (B, C)
        return self.head(self.drop(vectors))  # (B, n_classes)


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency weights n / (C * n_c), so every class carries the same total loss.
    A class absent from y gets the weight of a class seen once."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    return (len(y) / (n_classes * np.maximum(counts, 1.0))).astype(np.float32)


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


def train_classifier(
    foundation: FoundationModel,
    tokenizer: Tokenizer,
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    val_texts: Sequence[str],
    val_labels: Sequence[str],
    cfg: ClassifierConfig,
    classes: Sequence[str] | None = None,
    features: TextFeatures | None = None,
    on_metrics: MetricsCallback | None = None,
    name: str = "classifier",
) -> FineTunedClassifier:
    """Fine-tune a classifier head (and, in full mode, the encoder) on labeled texts.

    The foundation is not changed: its text tower is copied. classes: column order of the
    probabilities (default: sorted train labels). Validation examples whose label is not
    one of `classes` (out-of-scope) are left out of early stopping. features: frozen
    features of `foundation.text` to reuse (linear_probe only). on_metrics receives
    `{name}/train_loss`, `{name}/lr` and `{name}/val_<metric>` with the optimiser step.
    """
    started = time.perf_counter()
    seed_everything(cfg.seed)
    runtime = init_runtime(cfg.device, cfg.precision)
    classes = sorted(set(map(str, train_labels))) if classes is None else list(map(str, classes))
    if len(classes) < 2:
        raise ValueError(f"{name}: a classifier needs at least two classes, got {classes}")
    position = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(map(str, train_labels)) - set(classes))
    if unknown:
        raise ValueError(f"{name}: train labels {unknown} are not among the classes {classes}")
    y_train = np.array([position[str(y)] for y in train_labels], dtype=np.int64)
    keep_val = [i for i, y in enumerate(val_labels) if str(y) in position]
    if not keep_val:
        raise ValueError(f"{name}: no validation example has one of the classes {classes}")
    val_x = [val_texts[i] for i in keep_val]
    y_val = np.array([position[str(val_labels[i])] for i in keep_val], dtype=np.int64)
    max_len = min(cfg.max_len or foundation.text.max_len, foundation.text.max_len)

    text = copy.deepcopy(foundation.text)
    probe = cfg.mode in ("linear_probe", "contrastive_probe")
    model = TextClassifier(
        text, len(classes), cfg.head_dropout, normalize=probe and cfg.probe_normalize
    ).to(runtime.device)
    weights = (
        torch.from_numpy(class_weights(y_train, len(classes))).to(runtime.device)
        if cfg.class_weighting
        else None
    )
    if cfg.mode in ("linear_probe", "contrastive_probe"):
        tuned = []
        if cfg.mode == "contrastive_probe":
            tuned = contrastive_tune(
                model.text, tokenizer, train_texts, y_train, max_len, cfg, runtime, name
            )
            features = None  # the tuned copy's vectors, not the foundation's
        for p in model.text.parameters():
            p.requires_grad_(False)
        if features is None or features.text is not foundation.text or features.max_len != max_len:
            features = TextFeatures(model.text, tokenizer, max_len, runtime)

        def metric(t: np.ndarray, p: np.ndarray) -> float:
            return val_metric(t, p, len(classes), cfg.metric)

        W, b, chosen = fit_linear_probe(
            features(train_texts),
            y_train,
            features(val_x),
            y_val,
            len(classes),
            metric,
            cfg.probe_l2,
            cfg.probe_max_iter,
            weights,
            runtime.device,
            normalize=model.normalize,
        )
        with torch.no_grad():
            model.head.weight.copy_(W)
            model.head.bias.copy_(b)
        info = {
            "steps": len(tuned),
            "best_step": len(tuned),
            f"best_val_{cfg.metric}": chosen["val"],
            "probe_l2": chosen["l2"],
            "contrastive_loss": [tuned[0], tuned[-1]] if tuned else [],
            "early_stopped": False,
            "history": [],
        }
        if on_metrics is not None:
            on_metrics({f"{name}/val_{cfg.metric}": chosen["val"]}, 0)
    elif cfg.privacy.enabled:
        from karpa_models.finetune.private import train_full_private

        model, info = train_full_private(
            model,
            tokenizer,
            train_texts,
            y_train,
            val_x,
            y_val,
            weights,
            max_len,
            cfg,
            runtime,
            on_metrics,
            name,
            score=lambda t, p: val_metric(t, p, len(classes), cfg.metric),
        )
    else:
        info = _train_full(
            model,
            tokenizer,
            train_texts,
            y_train,
            val_x,
            y_val,
            weights,
            max_len,
            cfg,
            runtime,
            on_metrics,
            name,
        )
    model.eval()
    info.update(
        mode=cfg.mode, n_train=len(y_train), n_val=len(y_val), seconds=time.perf_counter() - started
    )
    logger.info(
        "%s (%s): %d steps in %.1fs, best val %s %.4f",
        name,
        cfg.mode,
        info["steps"],
        info["seconds"],
        cfg.metric,
        info[f"best_val_{cfg.metric}"],
    )
    return FineTunedClassifier(
        model=model,
        tokenizer=tokenizer,
        classes=classes,
        model_config=foundation.cfg,
        max_len=max_len,
        runtime=runtime,
        mode=cfg.mode,
        train_info=info,
        features=features if cfg.mode != "full" else None,
    )


def _train_full(
    model: TextClassifier,
    tokenizer: Tokenizer,
    train_texts: Sequence[str],
    y_train: np.ndarray,
    val_texts: Sequence[str],
    y_val: np.ndarray,
    weights: Tensor | None,
    max_len: int,
    cfg: ClassifierConfig,
    runtime: Runtime,
    on_metrics: MetricsCallback | None,
    name: str,
) -> dict[str, Any]:
    """Minibatch AdamW on the whole model (encoder at lr * encoder_lr_scale), validation
    `evals_per_epoch` times an epoch, stopping after `patience` validations without
    improvement; the best weights are restored into `model`."""
    n_classes = model.head.out_features
    batches = _TokenBatches(tokenizer, train_texts, val_texts, max_len, runtime)
    groups = [
        (model.text.parameters(), cfg.lr * cfg.encoder_lr_scale),
        (model.head.parameters(), cfg.lr),
    ]
    total = steps_plan(len(y_train), cfg.batch_size, cfg.epochs, cfg.min_steps, cfg.max_steps)
    opt = adamw(groups, cfg.weight_decay, runtime.device)
    sched = LambdaLR(opt, warmup_cosine(total, int(cfg.warmup_ratio * total), cfg.min_lr_ratio))
    per_epoch = len(batches.epoch(np.random.default_rng(0), cfg.batch_size))
    eval_at = eval_points(per_epoch, cfg.evals_per_epoch)
    stopper = EarlyStopping(cfg.patience)
    rng = np.random.default_rng(cfg.seed)
    y_train_t = torch.from_numpy(y_train).to(runtime.device)
    y_val_t = torch.from_numpy(y_val).to(runtime.device)
    step, stopped, losses = 0, False, []
    progress = Progress(f"{name} fine-tune", total, every=max(1, total // 4), logger=logger)
    while step < total and not stopped:
        for b, rows in enumerate(batches.epoch(rng, cfg.batch_size)):
            model.train()
            with runtime.autocast():
                logits = batches.train_logits(model, rows)  # (B, C)
            loss = F.cross_entropy(logits.float(), y_train_t[rows], weight=weights)
            losses.append(check_finite(loss, step + 1, name))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            step += 1
            if b in eval_at or step == total:
                pred, val_loss = batches.val_predict(model, y_val_t, weights)
                value = val_metric(y_val, pred, n_classes, cfg.metric)
                stopped = stopper.update(value, step, model, tiebreak=-val_loss)
                if on_metrics is not None:
                    on_metrics(
                        {
                            f"{name}/train_loss": float(np.mean(losses)),
                            f"{name}/lr": opt.param_groups[-1]["lr"],
                            f"{name}/val_{cfg.metric}": value,
                            f"{name}/val_loss": val_loss,
                        },
                        step,
                    )
                losses = []
                progress.detail = f"val {cfg.metric} {value:.3f}"
            progress.update(step)
            if stopped or step >= total:
                break
    stopper.restore(model)
    return {
        "steps": step,
        "planned_steps": total,
        "best_step": stopper.best_step,
        f"best_val_{cfg.metric}": stopper.best,
        "early_stopped": stopped,
        "history": stopper.history,
    }


class _TokenBatches:
    """Full fine-tuning: batches of token ids through the whole model."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        train_texts: Sequence[str],
        val_texts: Sequence[str],
        max_len: int,
        runtime: Runtime,
    ):
        self.train = encode(tokenizer, train_texts, max_len)
        self.val = encode(tokenizer, val_texts, max_len)
        self.runtime = runtime

    def epoch(self, rng: np.random.Generator, batch_size: int) -> list[np.ndarray]:
        """One epoch of row batches of similar length, in random order (random batches
        of chat messages pad to about 1.7x their mean length)."""
        return length_grouped(self.train.lengths, batch_size, rng)

    def train_logits(self, model: TextClassifier, rows: np.ndarray) -> Tensor:
        return model(*to_device(self.train, rows, self.runtime.device))

    @torch.no_grad()
    def val_predict(
        self, model: TextClassifier, y: Tensor, weights: Tensor | None, batch_size: int = 256
    ) -> tuple[np.ndarray, float]:
        """-> validation predictions (n,) and the mean (class-weighted) cross-entropy."""
        model.eval()
        logits = torch.zeros(len(self.val), model.head.out_features, device=y.device)
        order = np.argsort(self.val.lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            with self.runtime.autocast():
                out = model(*to_device(self.val, rows, self.runtime.device))
            logits[torch.from_numpy(rows).to(y.device)] = out.float()
        loss = F.cross_entropy(logits, y, weight=weights)
        return logits.argmax(-1).cpu().numpy(), float(loss)
