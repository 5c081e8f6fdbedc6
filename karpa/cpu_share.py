"""CPU threads shared between jobs that run at once on one machine (concurrent fine-tunes).

Each job runs in a process of its own and gets an equal share of the cores for torch's
intra-op threads; without it every job would start as many threads as there are cores,
and `concurrency` jobs would fight over `concurrency` times the machine.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """The cores divided evenly between `jobs`, at least one each."""
    if cores is None:
        affinity = getattr(os, "sched_getaffinity", None)
        cores = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    return max(1, cores // max(1, jobs))


def use_threads(threads: int) -> None:
    """Set this process's torch (and OpenMP) intra-op threads: a process pool's
    initializer, run once in each worker before any job."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    log.debug("torch uses %d thread(s) in process %d", threads, os.getpid())
