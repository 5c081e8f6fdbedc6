"""One checkpoint format: plain dicts of tensors and primitives, written atomically.

Layout: {format, step, model (the unwrapped FoundationModel), objectives and weighting (the
pretraining heads), optimizer, scheduler, rng (one entry per rank), model_config,
train_config, tokenizer_json}. Nothing custom is pickled, so
`torch.load(path, weights_only=True)` reads it.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist
from torch.optim.lr_scheduler import LRScheduler

from karpa_models.config import TrainConfig
from karpa_models.runtime import Runtime

if TYPE_CHECKING:
    from karpa_models.pretrain_step import PretrainStep

logger = logging.getLogger(__name__)

FORMAT = "karpa-foundation/1"
CHECKPOINT_NAME = "checkpoint.pt"


def capture_rng() -> dict[str, Any]:
    """Every random generator training touches, as weights_only-loadable values."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            n["keys"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    # random.setstate insists on tuples all the way down.
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list | tuple) else value


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write to a temporary file beside `path`, fsync, then rename over it: a crash leaves
    either the previous checkpoint or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save({"format": FORMAT, **payload}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    logger.info("checkpoint step %s written to %s", payload.get("step"), path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a karpa foundation checkpoint (expected format {FORMAT})")
    return state


def save_training_state(
    path: Path,
    done: int,
    step_module: PretrainStep,
    opt: torch.optim.Optimizer,
    sched: LRScheduler,
    runtime: Runtime,
    cfg: TrainConfig,
    meta: dict[str, Any] | None,
) -> None:
    """Checkpoint a training run after `done` steps; a collective call under DDP (every
    rank's RNG is gathered), written by rank 0 only."""
    rng = [capture_rng()]
    if runtime.distributed:
        # Each rank's own RNG (its dropout stream), so that resume restores all of them.
        rng = [None] * runtime.world_size
        dist.all_gather_object(rng, capture_rng())
    if not runtime.is_main:
        return
    save_checkpoint(
        path,
        {
            "step": done,
            "model": step_module.model.state_dict(),
            "objectives": step_module.objectives.state_dict(),
            "weighting": step_module.weighting.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "rng": rng,
            "train_config": cfg.to_dict(),
            **(meta or {}),
        },
    )


def restore_training_state(
    state: dict[str, Any],
    step_module: PretrainStep,
    opt: torch.optim.Optimizer,
    sched: LRScheduler,
    runtime: Runtime,
    cfg: TrainConfig,
) -> int:
    """Load a checkpoint into a freshly built run; returns the step to continue from."""
    step_module.model.load_state_dict(state["model"])
    step_module.objectives.load_state_dict(state["objectives"])
    step_module.weighting.load_state_dict(state["weighting"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    rng = state["rng"]
    if len(rng) == runtime.world_size:
        restore_rng(rng[runtime.rank])
    else:
        logger.warning(
            "checkpoint was written by %d ranks, resuming on %d: RNG streams reseeded",
            len(rng),
            runtime.world_size,
        )
        torch.manual_seed(cfg.seed + runtime.rank + int(state["step"]))
    logger.info("resumed from step %d", state["step"])
    return int(state["step"])
