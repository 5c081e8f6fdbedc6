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

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, TensorDataset

from karpa_models.finetune.config import ClassifierConfig
from karpa_models.finetune.loop import (
    EarlyStopping,
    MetricsCallback,
    check_finite,
    eval_points,
    steps_plan,
)
from karpa_models.finetune.privacy_config import DELTA_RULE, default_delta
from karpa_models.finetune.text import encode, to_device
from karpa_models.optim import adamw, warmup_cosine
from karpa_models.progress import Progress
from karpa_models.runtime import Runtime

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


def train_full_private(
    model: nn.Module,
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
    score: Callable[[np.ndarray, np.ndarray], float],
) -> tuple[nn.Module, dict[str, Any]]:
    """DP-SGD (AdamW under Opacus' DPOptimizer) on `model` (a TextClassifier: ids, mask ->
    logits); `score(y_true, y_pred)` is the validation metric (higher is better).

    -> (the model with its best weights: `model` itself unless ModuleValidator had to
    replace a layer, then a fixed copy; the training summary, with `privacy`: {epsilon,
    delta, noise_multiplier, max_grad_norm, sample_rate, steps, accountant,
    target_epsilon, delta_rule, frozen})."""
    from opacus import PrivacyEngine
    from opacus.accountants.utils import get_noise_multiplier

    priv = cfg.privacy
    n = len(y_train)
    delta = priv.delta if priv.delta is not None else default_delta(n)
    if delta >= 1.0 / n:
        raise ValueError(
            f"{name}: privacy.delta {delta:g} is not below 1/n_train = {1.0 / n:g} "
            f"({n} training examples); leave it unset for {DELTA_RULE}"
        )
    model = _validated(model)
    frozen = _frozen_for_opacus(model, tokenizer.get_vocab_size(), runtime.device)
    if frozen:
        logger.info("%s: frozen for DP-SGD (no per-example gradient): %s", name, frozen)

    train = encode(tokenizer, train_texts, max_len)
    val = encode(tokenizer, val_texts, max_len)
    groups = [
        (model.text.parameters(), cfg.lr * cfg.encoder_lr_scale),
        (model.head.parameters(), cfg.lr),
    ]
    opt = adamw(groups, cfg.weight_decay, runtime.device)
    loader = DataLoader(TensorDataset(torch.arange(n)), batch_size=cfg.batch_size)
    per_epoch = len(loader)
    sample_rate = 1.0 / per_epoch  # what Opacus' DPDataLoader samples with
    total = steps_plan(n, cfg.batch_size, cfg.epochs, cfg.min_steps, cfg.max_steps)
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
    sched = LambdaLR(dp_opt, warmup_cosine(total, int(cfg.warmup_ratio * total), cfg.min_lr_ratio))
    eval_at = eval_points(per_epoch, cfg.evals_per_epoch)
    stopper = EarlyStopping(cfg.patience)
    y_train_t = torch.from_numpy(y_train).to(runtime.device)
    y_val_t = torch.from_numpy(y_val).to(runtime.device)
    step, stopped, losses = 0, False, []
    progress = Progress(f"{name} DP fine-tune", total, every=max(1, total // 4), logger=logger)
    try:
        while step < total and not stopped:
            for b, (idx,) in enumerate(dp_loader):
                rows = idx.numpy()
                ids, mask = _batch(train, rows, runtime.device)  # (B, T), B may be 0
                model.train()
                with runtime.autocast():
                    logits = dp_model(ids, mask)  # (B, C)
                target = y_train_t[torch.from_numpy(rows).to(runtime.device)]
                per_example = F.cross_entropy(logits.float(), target, reduction="none")  # (B,)
                if weights is not None:
                    per_example = per_example * weights[target]
                # A mean over the drawn batch: Opacus undoes it per example before clipping.
                loss = per_example.sum() / max(1, len(rows))
                losses.append(check_finite(loss, step + 1, name))
                dp_opt.zero_grad(set_to_none=True)
                loss.backward()
                dp_opt.step()
                sched.step()
                step += 1
                if b in eval_at or step == total:
                    pred, val_loss = _val_predict(model, val, y_val_t, weights, runtime)
                    value = score(y_val, pred)
                    stopped = stopper.update(value, step, model, tiebreak=-val_loss)
                    epsilon = engine.get_epsilon(delta)
                    if on_metrics is not None:
                        on_metrics(
                            {
                                f"{name}/train_loss": float(np.mean(losses)),
                                f"{name}/lr": dp_opt.param_groups[-1]["lr"],
                                f"{name}/val_{cfg.metric}": value,
                                f"{name}/val_loss": val_loss,
                                f"{name}/epsilon": epsilon,
                            },
                            step,
                        )
                    losses = []
                    progress.detail = f"val {cfg.metric} {value:.3f}, ε {epsilon:.2f}"
                progress.update(step)
                if stopped or step >= total:
                    break
    finally:
        dp_model.remove_hooks()
        _clear_grad_samples(model)
    stopper.restore(model)
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
        "steps": step,
        "planned_steps": total,
        "best_step": stopper.best_step,
        f"best_val_{cfg.metric}": stopper.best,
        "early_stopped": stopped,
        "history": stopper.history,
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


@torch.no_grad()
def _val_predict(
    model: nn.Module, val, y: Tensor, weights: Tensor | None, runtime: Runtime, batch: int = 256
) -> tuple[np.ndarray, float]:
    """-> validation predictions (n,) and the mean (class-weighted) cross-entropy."""
    model.eval()
    logits = torch.zeros(len(val), model.head.out_features, device=y.device)
    order = np.argsort(val.lengths, kind="stable")
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        with runtime.autocast():
            out = model(*to_device(val, rows, runtime.device))
        logits[torch.from_numpy(rows).to(y.device)] = out.float()
    loss = F.cross_entropy(logits, y, weight=weights)
    return logits.argmax(-1).cpu().numpy(), float(loss)
