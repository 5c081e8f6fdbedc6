"""Device, precision and process group: decided here, in one place, and nowhere else.

bf16 autocast on CUDA (no grad scaler: bf16 has fp32's range), fp32 without autocast on
CPU. Data parallelism follows `torchrun`'s environment: with WORLD_SIZE > 1 the process
group is initialised (nccl on CUDA, gloo on CPU) and each process drives one device.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    device: torch.device
    autocast_dtype: torch.dtype | None  # None: plain fp32
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    owns_process_group: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def precision(self) -> str:
        return "bf16" if self.autocast_dtype == torch.bfloat16 else "fp32"

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj` on every rank (a picklable Python value); a no-op when alone."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self, synchronize: bool = False) -> None:
        """Leave the process group. `synchronize` (after a run that ended well on every
        rank) waits for all ranks first: a rank that tears down its gloo connections while
        a peer still uses them aborts ("terminate called without an active exception")."""
        if self.owns_process_group and dist.is_initialized():
            if synchronize:
                dist.barrier()
            dist.destroy_process_group()
            self.owns_process_group = False


def init_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    """Pick device and precision from the train config and join torchrun's process group."""
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is available")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    owns = False
    if world > 1 and not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        owns = True
    dev = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if precision == "bf16" and not use_cuda:
        raise ValueError("train.precision bf16 needs CUDA; CPU training runs in fp32")
    if use_cuda:
        # TF32 matmuls cost nothing in accuracy that matters here and are much faster.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        # One command gives the same weights twice on CPU: with more than one thread,
        # index_put_(accumulate=True) (the backward of every advanced-indexing read, such
        # as a gather of item rows) adds in thread order, and the sums' last bits differ
        # from run to run. The deterministic kernels sort first; warn_only, because an op
        # with no deterministic kernel should warn rather than stop a run.
        torch.use_deterministic_algorithms(True, warn_only=True)
    bf16 = use_cuda and precision in ("auto", "bf16") and torch.cuda.is_bf16_supported()
    if precision == "bf16" and not bf16:
        raise ValueError("train.precision bf16 requested but this GPU does not support bf16")
    rt = Runtime(
        device=dev,
        autocast_dtype=torch.bfloat16 if bf16 else None,
        rank=rank,
        local_rank=local_rank,
        world_size=world,
        owns_process_group=owns,
    )
    logger.info("runtime: %s, %s, rank %d of %d", dev, rt.precision, rank, world)
    return rt
