"""The training loop: tracker-agnostic, resumable, data-parallel when launched by torchrun.

It knows nothing about logging backends; it reports through `on_metrics(metrics, step)`
on rank 0 (minGPT's callback), writes log lines with rate and ETA, and checkpoints every
`checkpoint_every` steps. A resumed run restores model, objectives, optimiser, schedule
and every RNG, and batches are a function of the step, so on CPU it reaches the very same
weights as a run that was never interrupted.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from karpa_models.batches import PretrainBatches
from karpa_models.checkpoint import restore_training_state, save_training_state
from karpa_models.config import TrainConfig
from karpa_models.hf_text import HFTextTower
from karpa_models.optim import adamw, warmup_cosine
from karpa_models.pretrain_step import PretrainStep
from karpa_models.progress import Progress
from karpa_models.runtime import Runtime
from karpa_models.selection import BestCheckpoint

logger = logging.getLogger(__name__)

MetricsCallback = Callable[[dict[str, float], int], None]


class NonFiniteLossError(FloatingPointError):
    """A loss or the gradient norm became NaN or infinite; raised before the weights change."""


@dataclass
class TrainResult:
    steps: int
    checkpoint_path: Path
    samples_per_s: float
    tokens_per_s: float
    # Each objective's loss averaged over the first and the last logging window: the
    # first is of this call (after a resume, of the resumed part).
    first_losses: dict[str, float] = field(default_factory=dict)
    final_losses: dict[str, float] = field(default_factory=dict)
    train_seconds: float = 0.0


def build_optimizer(
    step: PretrainStep, cfg: TrainConfig, device: torch.device
) -> torch.optim.AdamW:
    """AdamW with decay on matrices only, and a smaller learning rate for a pretrained
    text encoder so that continued pretraining refines it rather than overwrites it:
    lr * pretrained_lr_scale for its top layer, times pretrained_layer_decay per layer
    below it (layer-wise decay: the lower layers, the most general, move least)."""
    text = step.model.text
    pretrained = {id(p) for p in text.parameters()} if isinstance(text, HFTextTower) else set()
    own = [p for p in step.parameters() if id(p) not in pretrained]
    groups = [(own, cfg.lr)]
    if pretrained:
        by_depth = pretrained_depths(text)
        top = max(by_depth.values())
        for depth in sorted(set(by_depth.values())):
            params = [p for name, p in text.named_parameters() if by_depth[name] == depth]
            scale = cfg.pretrained_lr_scale * cfg.pretrained_layer_decay ** (top - depth)
            groups.append((params, cfg.lr * scale))
    return adamw(groups, cfg.weight_decay, device)


def pretrained_depths(text: nn.Module) -> dict[str, int]:
    """Each parameter of a pretrained encoder -> its depth: 0 for the embeddings, i + 1
    for transformer layer i, and one above the last layer for anything else."""
    layer = re.compile(r"\.layers?\.(\d+)\.")
    names = [name for name, _ in text.named_parameters()]
    found = {n: int(m.group(1)) + 1 for n in names if (m := layer.search(n))}
    top = max(found.values(), default=0) + 1
    return {n: found.get(n, 0 if "embeddings" in n else top) for n in names}


class _Meter:
    """Running sums between log points, and throughput over the whole run."""

    def __init__(self, names: list[str]):
        self.names = names
        self.reset()
        self.samples = self.tokens = 0.0
        self.seconds = 0.0

    def reset(self) -> None:
        self.sums = dict.fromkeys(self.names, 0.0)
        self.steps = 0
        self.window_seconds = 0.0

    def add(
        self, values: dict[str, float], seconds: float, samples: float, tokens: float, timed: bool
    ) -> None:
        for k in self.names:
            self.sums[k] += values[k]
        self.steps += 1
        self.window_seconds += seconds
        if timed:  # the first step of a run (allocations, worker start) is not throughput
            self.samples += samples
            self.tokens += tokens
            self.seconds += seconds

    def means(self) -> dict[str, float]:
        return {k: v / max(1, self.steps) for k, v in self.sums.items()}


def train(
    step_module: PretrainStep,
    batches: PretrainBatches,
    cfg: TrainConfig,
    runtime: Runtime,
    checkpoint_path: Path,
    on_metrics: MetricsCallback | None = None,
    meta: dict[str, Any] | None = None,
    resume_state: dict[str, Any] | None = None,
    checker: BestCheckpoint | None = None,
) -> TrainResult:
    """Run steps [resume step, cfg.steps) of pretraining. `meta` (model config, tokenizer)
    is stored verbatim in every checkpoint. checker: downstream checks at step 0, every
    few steps and at the end, keeping the best weights (selection.py); they run in eval
    mode without drawing from any training RNG, so checked and unchecked runs train alike."""
    model = step_module.model
    step_module.to(runtime.device)
    opt = build_optimizer(step_module, cfg, runtime.device)
    sched = LambdaLR(opt, warmup_cosine(cfg.steps, cfg.warmup_steps, cfg.min_lr_ratio))
    start = 0
    if resume_state is not None:
        start = restore_training_state(resume_state, step_module, opt, sched, runtime, cfg)
    net: torch.nn.Module = step_module
    if runtime.distributed:
        # Some parameters get no gradient in a given configuration (a tower whose
        # objectives are off), which DDP must be told about.
        ids = [runtime.local_rank] if runtime.device.type == "cuda" else None
        net = DistributedDataParallel(step_module, device_ids=ids, find_unused_parameters=True)
    names = list(step_module.active)
    meter = _Meter(["total", *names, "grad_norm"])
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    content = batches.item_content_inputs() if model.behaviour is not None else None
    bar = tqdm(
        total=cfg.steps, initial=start, unit="step", disable=not (cfg.progress and runtime.is_main)
    )
    loader = DataLoader(
        batches,
        batch_size=None,
        sampler=range(start, cfg.steps),
        num_workers=cfg.num_workers,
        pin_memory=runtime.device.type == "cuda",
        # Its own generator: creating the loader must not draw from the global torch RNG,
        # or a resumed run's dropout would diverge from an uninterrupted one.
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    if checker is not None and checker.due(start, cfg.steps) and start == 0:
        if content is not None:  # the behaviour tower's content vectors, as step 0 sees them
            with runtime.autocast():
                model.refresh_item_content(*content)
        checker.check(0, step_module)
    progress = Progress("pretrain", cfg.steps, start=start, logger=logger)
    step_module.train()
    mark = time.perf_counter()
    for step, batch in zip(range(start, cfg.steps), loader, strict=True):
        refresh_s = 0.0
        if content is not None and step % cfg.content_refresh_every == 0:
            t = time.perf_counter()
            with runtime.autocast():
                model.refresh_item_content(*content)
            refresh_s = time.perf_counter() - t
        named, n_samples, n_tokens, metrics = _step(net, step_module, batch, opt, cfg, runtime)
        _check_finite(step, cfg.steps, named, names)
        opt.step()
        sched.step()
        done = step + 1
        seconds = time.perf_counter() - mark - refresh_s
        meter.add(named, seconds, n_samples, n_tokens, timed=step > start)
        bar.update(1)
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            save_training_state(checkpoint_path, done, step_module, opt, sched, runtime, cfg, meta)
        if checker is not None and checker.due(done, cfg.steps):
            checker.check(done, step_module)
            step_module.train()
        # Logging counts as training time (charged to the next step); checkpointing does not.
        mark = time.perf_counter()
        if done % cfg.log_every == 0 or done == cfg.steps:
            last = _report(done, cfg, meter, metrics, opt, runtime, bar, progress, on_metrics)
            first = first or last
        elif runtime.is_main:
            progress.update(done)  # a line every so often between the loss reports
    bar.close()
    return TrainResult(
        steps=cfg.steps,
        checkpoint_path=checkpoint_path,
        samples_per_s=meter.samples / meter.seconds if meter.seconds else 0.0,
        tokens_per_s=meter.tokens / meter.seconds if meter.seconds else 0.0,
        first_losses=_losses(first),
        final_losses=_losses(last),
        train_seconds=meter.seconds,
    )


def _losses(metrics: dict[str, float]) -> dict[str, float]:
    return {k.removeprefix("loss/"): v for k, v in metrics.items() if k.startswith("loss/")}


def _step(
    net: torch.nn.Module,
    step_module: PretrainStep,
    batch: dict[str, torch.Tensor],
    opt: torch.optim.Optimizer,
    cfg: TrainConfig,
    runtime: Runtime,
) -> tuple[dict[str, float], float, float, dict[str, torch.Tensor]]:
    """Forward, backward and clipping (not the update: the caller checks the numbers first).
    -> losses and grad norm as floats (averaged over ranks), samples, tokens, metrics."""
    n_samples, n_tokens = batch.pop("n_samples"), batch.pop("n_tokens")
    batch = {k: v.to(runtime.device, non_blocking=True) for k, v in batch.items()}
    with runtime.autocast():
        total, losses, metrics = net(batch)
    opt.zero_grad(set_to_none=True)
    total.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(step_module.parameters(), cfg.grad_clip)
    names = ["total", *losses, "grad_norm"]
    values = torch.stack([total.detach(), *(v.detach() for v in losses.values()), grad_norm])
    counts = torch.stack([n_samples, n_tokens]).to(values.device, torch.float32)
    values = torch.cat([values.float(), counts])
    if runtime.distributed:
        dist.all_reduce(values)  # every rank sees the same numbers, so all stop together
        values[:-2] /= runtime.world_size
    vals = values.tolist()  # the step's single host sync
    return dict(zip(names, vals[:-2], strict=True)), vals[-2], vals[-1], metrics


def _check_finite(step: int, steps: int, named: dict[str, float], objectives: list[str]) -> None:
    bad = [n for n in objectives if not math.isfinite(named[n])]
    if bad:
        detail = ", ".join(f"{n}={named[n]}" for n in bad)
        raise NonFiniteLossError(
            f"non-finite loss at step {step + 1} of {steps} in objective(s) {detail}; "
            "the weights were not updated (lower train.lr or check that objective's inputs)"
        )
    if not math.isfinite(named["grad_norm"]):
        raise NonFiniteLossError(
            f"non-finite gradient norm at step {step + 1} of {steps} although every loss was "
            f"finite ({', '.join(f'{n}={named[n]:.4g}' for n in objectives)}); "
            "the weights were not updated"
        )


def _report(
    done: int,
    cfg: TrainConfig,
    meter: _Meter,
    metrics: dict[str, torch.Tensor],
    opt: torch.optim.Optimizer,
    runtime: Runtime,
    bar: tqdm,
    progress: Progress,
    on_metrics: MetricsCallback | None,
) -> dict[str, float]:
    means = meter.means()
    out = {f"loss/{k}": v for k, v in means.items() if k != "grad_norm"}
    out["grad_norm"] = means["grad_norm"]
    out["lr"] = opt.param_groups[0]["lr"]
    out.update({k: float(v) for k, v in metrics.items()})
    if meter.seconds:
        out["samples_per_s"] = meter.samples / meter.seconds
        out["tokens_per_s"] = meter.tokens / meter.seconds
    out["eta_s"] = progress.eta_s()
    meter.reset()
    if runtime.is_main:
        bar.set_postfix(loss=f"{out['loss/total']:.3f}", refresh=False)
        progress.log(
            done,
            f"loss {out['loss/total']:.4f}, {out.get('samples_per_s', 0.0):,.0f} samples/s, "
            f"{out.get('tokens_per_s', 0.0):,.0f} tokens/s",
        )
        progress.detail = None  # the lines in between carry no stale loss
        if on_metrics is not None:
            on_metrics(out, done)
    return out
