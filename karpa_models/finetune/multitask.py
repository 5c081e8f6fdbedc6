"""Multi-task fine-tuning: one text tower shared by several classification tasks, one
linear head per task, trained jointly on task-sampled minibatches.

Each optimiser step draws one task, then one length-grouped batch of that task's
training texts, and takes a step on that task's cross-entropy (so every batch has one
head and one set of class weights). Tasks are drawn with probability proportional to
n_task ** alpha (`SAMPLING`): "sqrt" (alpha 0.5, the default) lets a large task lead
without starving a small one; "proportional" (alpha 1) is plain concatenation, where the
small task may underfit; "round_robin" alternates tasks, which repeats a small task's
examples many times per pass over a large one (it overfits first). Validation runs on
every task at the same steps, and early stopping keeps the weights with the best mean of
the per-task validation metrics.

The result is a classifier per task (`FineTunedClassifier` around a `TextClassifier`
whose text tower is the shared one and whose head is the task's), so each task's view
saves, loads and serves exactly like a separately fine-tuned classifier.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR

from karpa_models.finetune.classifier import (
    TextClassifier,
    class_weights,
    in_scope,
    val_metric,
)
from karpa_models.finetune.config import ClassifierConfig
from karpa_models.finetune.loop import EarlyStopping, MetricsCallback, check_finite, steps_plan
from karpa_models.finetune.predictors import FineTunedClassifier
from karpa_models.finetune.sequences import length_grouped
from karpa_models.finetune.text import encode, length_batches, to_device
from karpa_models.layers import activation_checkpointing
from karpa_models.model import FoundationModel
from karpa_models.optim import adamw, seed_everything, warmup_cosine
from karpa_models.progress import Progress
from karpa_models.runtime import Runtime, init_runtime

logger = logging.getLogger(__name__)

SAMPLING = ("sqrt", "proportional", "round_robin")


@dataclass(frozen=True)
class JointTask:
    """One task's labeled texts. classes: the head's column order; validation examples
    whose label is not among them (out-of-scope) are left out of early stopping."""

    name: str
    classes: tuple[str, ...]
    train_texts: Sequence[str]
    train_labels: Sequence[str]
    val_texts: Sequence[str]
    val_labels: Sequence[str]
    class_weighting: bool = False
    planned_steps: int = 0  # what this task's separate fine-tune would take (0: derive)


def task_probabilities(sizes: Sequence[int], sampling: str) -> np.ndarray:
    """(n_tasks,) probabilities of drawing each task for the next batch."""
    if sampling not in SAMPLING:
        raise ValueError(f"multitask sampling must be one of {SAMPLING}, got {sampling!r}")
    n = np.asarray(sizes, dtype=np.float64)
    alpha = {"sqrt": 0.5, "proportional": 1.0, "round_robin": 0.0}[sampling]
    weights = n**alpha
    return weights / weights.sum()


def task_schedule(
    sizes: Sequence[int], sampling: str, steps: int, rng: np.random.Generator
) -> np.ndarray:
    """(steps,) task index per optimiser step: a fixed cycle for round_robin, i.i.d.
    draws with `task_probabilities` otherwise."""
    if sampling == "round_robin":
        return np.arange(steps) % len(sizes)
    return rng.choice(len(sizes), size=steps, p=task_probabilities(sizes, sampling))


class JointClassifier(nn.Module):
    """The shared text tower and one TextClassifier view per task (heads not shared)."""

    def __init__(self, text: nn.Module, n_classes: dict[str, int], dropout: float):
        super().__init__()
        self.text = text
        # Each view holds the same `text` module; only its head is its own.
        self.views = nn.ModuleDict(
            {t: TextClassifier(text, n, dropout) for t, n in n_classes.items()}
        )

    def forward(self, ids: Tensor, mask: Tensor, task: str) -> Tensor:
        """ids (B, T), mask (B, T) -> task logits (B, n_classes[task])."""
        return self.views[task](ids, mask)


class _TaskData:
    """One task's encoded texts, class indices and an endless stream of train batches."""

    def __init__(
        self, task: JointTask, tokenizer: Tokenizer, max_len: int, device: torch.device, seed: int
    ):
        position = {c: i for i, c in enumerate(task.classes)}
        unknown = sorted(set(map(str, task.train_labels)) - set(position))
        if unknown:
            raise ValueError(f"{task.name}: train labels {unknown} are not among the classes")
        val_x, self.y_val = in_scope(task.val_texts, task.val_labels, task.classes)
        if not val_x:
            raise ValueError(f"{task.name}: no validation example has one of its classes")
        self.name = task.name
        self.n_classes = len(task.classes)
        self.y_train = np.array([position[str(y)] for y in task.train_labels], dtype=np.int64)
        self.train = encode(tokenizer, task.train_texts, max_len)
        self.val = encode(tokenizer, val_x, max_len)
        self.y_train_t = torch.from_numpy(self.y_train).to(device)
        self.y_val_t = torch.from_numpy(self.y_val).to(device)
        self.weights = (
            torch.from_numpy(class_weights(self.y_train, self.n_classes)).to(device)
            if task.class_weighting
            else None
        )
        self.rng = np.random.default_rng(seed)

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Length-grouped batches in random order, epoch after epoch, without end."""
        while True:
            yield from length_grouped(self.train.lengths, batch_size, self.rng)

    def batches_per_epoch(self, batch_size: int) -> int:
        return len(length_grouped(self.train.lengths, batch_size, np.random.default_rng(0)))


def train_multitask(
    foundation: FoundationModel,
    tokenizer: Tokenizer,
    tasks: Sequence[JointTask],
    cfg: ClassifierConfig,
    sampling: str = "sqrt",
    on_metrics: MetricsCallback | None = None,
    name: str = "multitask",
) -> dict[str, FineTunedClassifier]:
    """Fine-tune one copy of the foundation's text tower on every task at once.

    cfg gives the shared recipe (mode "full" only: learning rates, batch size, patience,
    evaluations per epoch, metric, device). The step budget is the sum of the tasks'
    `planned_steps` (the separate fine-tunes' budgets: the same compute as training each
    task alone), or cfg's plan over all training texts when they are unset. on_metrics
    receives `{name}/train_loss`, `{name}/lr`, `{name}/{task}/val_<metric>` and
    `{name}/val_mean_<metric>` with the optimiser step. -> {task name: classifier}.
    """
    if cfg.mode != "full":
        raise ValueError(
            f"multi-task fine-tuning trains the encoder: mode 'full', got {cfg.mode!r}"
        )
    if len(tasks) < 2 or len({t.name for t in tasks}) != len(tasks):
        raise ValueError(f"multi-task fine-tuning needs two or more named tasks, got {len(tasks)}")
    started = time.perf_counter()
    seed_everything(cfg.seed)
    runtime = init_runtime(cfg.device, cfg.precision)
    max_len = min(cfg.max_len or foundation.text.max_len, foundation.text.max_len)
    data = [
        _TaskData(t, tokenizer, max_len, runtime.device, cfg.seed + i) for i, t in enumerate(tasks)
    ]
    for t in tasks:
        if len(t.classes) < 2:
            raise ValueError(f"{t.name}: a classifier needs at least two classes")
    model = JointClassifier(
        copy.deepcopy(foundation.text), {t.name: len(t.classes) for t in tasks}, cfg.head_dropout
    ).to(runtime.device)
    sizes = [len(d.y_train) for d in data]
    total = sum(t.planned_steps for t in tasks)
    if total <= 0:
        total = steps_plan(sum(sizes), cfg.batch_size, cfg.epochs, cfg.min_steps, cfg.max_steps)
    heads = [p for v in model.views.values() for p in v.head.parameters()]
    opt = adamw(
        [(model.text.parameters(), cfg.lr * cfg.encoder_lr_scale), (heads, cfg.lr)],
        cfg.weight_decay,
        runtime.device,
    )
    sched = LambdaLR(opt, warmup_cosine(total, int(cfg.warmup_ratio * total), cfg.min_lr_ratio))
    # Validate evals_per_epoch times per joint epoch (one pass over every task's batches).
    per_epoch = sum(d.batches_per_epoch(cfg.batch_size) for d in data)
    eval_every = max(1, per_epoch // cfg.evals_per_epoch)
    schedule = task_schedule(sizes, sampling, total, np.random.default_rng(cfg.seed))
    streams = [d.batches(cfg.batch_size) for d in data]
    stopper = EarlyStopping(cfg.patience)
    losses: list[float] = []
    drawn = np.zeros(len(data), dtype=np.int64)
    progress = Progress(f"{name} fine-tune", total, every=max(1, total // 4), logger=logger)
    step, stopped = 0, False
    with activation_checkpointing(model.text, cfg.activation_checkpointing):
        for step, which in enumerate(schedule.tolist(), start=1):
            d, rows = data[which], next(streams[which])
            drawn[which] += 1
            model.train()
            with runtime.autocast():
                logits = model(*to_device(d.train, rows, runtime.device), d.name)  # (B, C_task)
            loss = F.cross_entropy(logits.float(), d.y_train_t[rows], weight=d.weights)
            losses.append(check_finite(loss, step, f"{name}/{d.name}"))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            if step % eval_every == 0 or step == total:
                values, val_losses = _validate(model, data, cfg.metric, runtime)
                mean = float(np.mean(list(values.values())))
                stopped = stopper.update(mean, step, model, tiebreak=-float(np.mean(val_losses)))
                if on_metrics is not None:
                    on_metrics(
                        {
                            f"{name}/train_loss": float(np.mean(losses)),
                            f"{name}/lr": opt.param_groups[-1]["lr"],
                            f"{name}/val_mean_{cfg.metric}": mean,
                            **{f"{name}/{t}/val_{cfg.metric}": v for t, v in values.items()},
                        },
                        step,
                    )
                stopper.history[-1].update({f"val_{t}": v for t, v in values.items()})
                losses = []
                progress.detail = f"val mean {cfg.metric} {mean:.3f}"
            progress.update(step)
            if stopped:
                break
    opt.zero_grad(set_to_none=True)  # the model is kept, its last gradients need not be
    stopper.restore(model)
    model.eval()
    best = next(h for h in stopper.history if h["step"] == stopper.best_step)
    seconds = time.perf_counter() - started
    logger.info(
        "%s: %d steps (%s) in %.1fs, best mean val %s %.4f at step %d",
        name,
        step,
        ", ".join(f"{d.name} {n}" for d, n in zip(data, drawn.tolist(), strict=True)),
        seconds,
        cfg.metric,
        stopper.best,
        stopper.best_step,
    )
    out = {}
    for i, d in enumerate(data):
        info = {
            "mode": "multitask",
            "sampling": sampling,
            "tasks": [t.name for t in tasks],
            "task_probability": float(task_probabilities(sizes, sampling)[i])
            if sampling != "round_robin"
            else 1.0 / len(data),
            "task_batches": int(drawn[i]),
            "steps": step,
            "planned_steps": total,
            "best_step": stopper.best_step,
            f"best_val_{cfg.metric}": float(best[f"val_{d.name}"]),
            f"best_val_mean_{cfg.metric}": stopper.best,
            "early_stopped": stopped,
            "n_train": len(d.y_train),
            "n_val": len(d.y_val),
            "seconds": seconds,
            "history": stopper.history,
        }
        out[d.name] = FineTunedClassifier(
            model=model.views[d.name],
            tokenizer=tokenizer,
            classes=list(tasks[i].classes),
            model_config=foundation.cfg,
            max_len=max_len,
            runtime=runtime,
            mode="full",
            train_info=info,
        )
    return out


@torch.no_grad()
def _validate(
    model: JointClassifier, data: Sequence[_TaskData], metric: str, runtime: Runtime
) -> tuple[dict[str, float], list[float]]:
    """-> ({task: validation metric}, [per-task mean (class-weighted) cross-entropy])."""
    model.eval()
    values, losses = {}, []
    for d in data:
        logits = torch.zeros(len(d.y_val), d.n_classes, device=runtime.device)
        for rows in length_batches(d.val, 256):
            with runtime.autocast():
                out = model(*to_device(d.val, rows, runtime.device), d.name)  # (B, C)
            logits[torch.from_numpy(rows).to(runtime.device)] = out.float()
        losses.append(float(F.cross_entropy(logits, d.y_val_t, weight=d.weights)))
        values[d.name] = val_metric(d.y_val, logits.argmax(-1).cpu().numpy(), d.n_classes, metric)
    return values, losses
