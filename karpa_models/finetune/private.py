"""Differentially private full fine-tuning of a text classifier (DP-SGD through Opacus).

What Opacus needs from the model, as found on karpa's towers:
- ModuleValidator finds nothing to fix (no BatchNorm, no recurrent layer); it is still
  run, and `fix` applied if a future layer needs it.
- Every trainable layer of the text tower is an nn.Linear, nn.LayerNorm or nn.Embedding,
  which have Opacus grad samplers; no module holds a bare parameter, so the functorch
  fallback is not needed (it would serve such a module).
- The learned position embedding is looked up with positions (T,), shared by the whole
  batch, not (B, T): its per-example gradients come out with T rows instead of B. With
  B != T Opacus fails on the shapes; with B == T it would silently clip and noise the
  wrong thing. `_frozen_for_opacus` finds such parameters with a probe pass on synthetic
  token ids (no training data, so no privacy spent) and freezes them for the fine-tune:
  the positions keep their pretrained values. A Hugging Face tower's position_ids (1, T)
  are caught by the same probe.

The steps follow the non-private recipe (steps_plan, warmup-cosine, early stopping on
validation), except that batches are Poisson samples (rate batch_size / n_train, as the
accountant assumes) and per-example clipping replaces the global gradient clip. The ε
reported is the accountant's for every step taken, not only up to the best checkpoint:
the checkpoint is chosen by looking at all of them.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from karpa_models.finetune.full import FullFineTune, run_steps
from karpa_models.finetune.privacy_config import DELTA_RULE, default_delta
from karpa_models.finetune.text import encode, to_device

logger = logging.getLogger(__name__)

_PROBE_BATCH, _PROBE_TOKENS = 3, 5  # different sizes, so a (T,)-shaped lookup shows


def _clear_grad_samples(model: nn.Module) -> None:
    for p in model.parameters():
        for attr in ("grad_sample", "_current_grad_sample", "summed_grad"):
            if hasattr(p, attr):
                delattr(p, attr)
        if hasattr(p, "_forward_counter"):
            delattr(p, "_forward_counter")
        p.grad = None


def _frozen_for_opacus(model: nn.Module, vocab_size: int, device: torch.device) -> list[str]:
    """Freeze the trainable parameters whose per-example gradients Opacus cannot compute
    (their batch dimension is not the batch); returns their names."""
    from opacus import GradSampleModule

    probe = GradSampleModule(model)
    was_training = model.training
    model.train()
    try:
        gen = torch.Generator().manual_seed(0)
        ids = torch.randint(0, vocab_size, (_PROBE_BATCH, _PROBE_TOKENS), generator=gen)
        mask = torch.ones_like(ids, dtype=torch.bool)
        probe(ids.to(device), mask.to(device)).float().sum().backward()
        bad = [
            name
            for name, p in model.named_parameters()
            if p.requires_grad
            and (
                getattr(p, "grad_sample", None) is None
                or not isinstance(p.grad_sample, Tensor)
                or p.grad_sample.shape[0] != _PROBE_BATCH
            )
        ]
    finally:
        probe.remove_hooks()
        _clear_grad_samples(model)
        model.train(was_training)
    for name, p in model.named_parameters():
        if name in bad:
            p.requires_grad_(False)
    return bad


def _validated(model: nn.Module) -> nn.Module:
    """Opacus' ModuleValidator: `model`, or a fixed copy (BatchNorm -> GroupNorm, ...)."""
    from opacus.validators import ModuleValidator

    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        logger.warning("Opacus cannot train some layers as they are; fixing: %s", errors)
        model = ModuleValidator.fix(model)
        ModuleValidator.validate(model, strict=True)
    return model


def train_full_private(job: FullFineTune) -> tuple[nn.Module, dict[str, Any]]:
    """DP-SGD (AdamW under Opacus' DPOptimizer) on job.model, through the shared loop.

    -> (the model with its best weights: job.model itself unless ModuleValidator had to
    replace a layer, then a fixed copy; the training summary, with `privacy`: {epsilon,
    delta, noise_multiplier, max_grad_norm, sample_rate, steps, accountant,
    target_epsilon, delta_rule, frozen})."""
    from opacus import PrivacyEngine
    from opacus.accountants.utils import get_noise_multiplier

    cfg, runtime, name, weights = job.cfg, job.runtime, job.name, job.weights
    priv = cfg.privacy
    n = len(job.y_train)
    delta = priv.delta if priv.delta is not None else default_delta(n)
    if delta >= 1.0 / n:
        raise ValueError(
            f"{name}: privacy.delta {delta:g} is not below 1/n_train = {1.0 / n:g} "
            f"({n} training examples); leave it unset for {DELTA_RULE}"
        )
    job = dataclasses.replace(job, model=_validated(job.model))
    model = job.model
    frozen = _frozen_for_opacus(model, job.tokenizer.get_vocab_size(), runtime.device)
    if frozen:
        logger.info("%s: frozen for DP-SGD (no per-example gradient): %s", name, frozen)

    train = encode(job.tokenizer, job.train_texts, job.max_len)
    val = encode(job.tokenizer, job.val_texts, job.max_len)
    opt = job.optimizer()
    loader = DataLoader(TensorDataset(torch.arange(n)), batch_size=cfg.batch_size)
    per_epoch = len(loader)
    sample_rate = 1.0 / per_epoch  # what Opacus' DPDataLoader samples with
    total = job.total_steps()
    if priv.noise_multiplier is not None:
        sigma = priv.noise_multiplier
    else:
        # make_private_with_epsilon calibrates for whole epochs; karpa's plan is in steps
        # (min_steps, max_steps), so the same calibration is asked for the planned steps.
        sigma = get_noise_multiplier(
            target_epsilon=priv.target_epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            steps=total,
            accountant=priv.accountant,
        )
    engine = PrivacyEngine(accountant=priv.accountant)
    dp_model, dp_opt, dp_loader = engine.make_private(
        module=model,
        optimizer=opt,
        data_loader=loader,
        noise_multiplier=sigma,
        max_grad_norm=priv.max_grad_norm,
        poisson_sampling=True,
        loss_reduction="mean",
    )
    y_train_t = torch.from_numpy(job.y_train).to(runtime.device)

    def loss_of(rows: np.ndarray) -> Tensor:
        ids, mask = _batch(train, rows, runtime.device)  # (B, T), B may be 0
        with runtime.autocast():
            logits = dp_model(ids, mask)  # (B, C)
        target = y_train_t[torch.from_numpy(rows).to(runtime.device)]
        per_example = F.cross_entropy(logits.float(), target, reduction="none")  # (B,)
        if weights is not None:
            per_example = per_example * weights[target]
        # A mean over the drawn batch: Opacus undoes it per example before clipping.
        return per_example.sum() / max(1, len(rows))

    try:
        # No global clip: DPOptimizer clips each example's gradient, then adds noise.
        info = run_steps(
            job,
            dp_opt,
            lambda: (idx.numpy() for (idx,) in dp_loader),
            per_epoch,
            loss_of,
            val,
            grad_clip=None,
            extra=lambda: {"epsilon": engine.get_epsilon(delta)},
            what="DP fine-tune",
        )
    finally:
        dp_model.remove_hooks()
        _clear_grad_samples(model)
    step = info["steps"]
    epsilon = float(engine.get_epsilon(delta))
    if not math.isfinite(epsilon):
        raise ValueError(f"{name}: the accountant gave ε = {epsilon} after {step} steps")
    logger.info(
        "%s: DP-SGD spent ε = %.3f at δ = %.2g (σ = %.3f, C = %g, q = %.4f, %d steps)",
        name,
        epsilon,
        delta,
        sigma,
        priv.max_grad_norm,
        sample_rate,
        step,
    )
    return model, {
        **info,
        "privacy": {
            "epsilon": epsilon,
            "delta": delta,
            "delta_rule": "given" if priv.delta is not None else DELTA_RULE,
            "noise_multiplier": float(sigma),
            "max_grad_norm": priv.max_grad_norm,
            "sample_rate": sample_rate,
            "steps": step,
            "n_train": n,
            "accountant": priv.accountant,
            "target_epsilon": priv.target_epsilon,
            "frozen": frozen,
        },
    }


def _batch(enc, rows: np.ndarray, device: torch.device) -> tuple[Tensor, Tensor]:
    """Token ids and mask of `rows`; an empty Poisson draw gives (0, 1) tensors, which
    still pass through the model (Opacus then adds noise only)."""
    if len(rows) == 0:
        ids, mask = to_device(enc, np.arange(1), device)
        return ids[:0], mask[:0]
    return to_device(enc, rows, device)
