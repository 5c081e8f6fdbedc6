"""The Dask cluster of `engine: dask`: an existing scheduler, or a local one for one run.

A local cluster is karpa's own: worker processes on 127.0.0.1, one thread each, started
when the data stages start and closed when they end (nothing outlives the run). An
existing scheduler is asked to answer first, so a wrong address is one sentence before
anything is read or written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from karpa.config import RunConfig
from karpa.environment import environment_kept
from karpa.errors import KarpaError

log = logging.getLogger(__name__)


class ClusterError(KarpaError):
    """The Dask scheduler does not answer, or the local cluster could not start."""


def check_scheduler(address: str, timeout_s: float) -> None:
    """Raise `ClusterError` unless the Dask scheduler at `address` answers in time."""
    from dask.distributed import Client

    try:
        client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"engine_address: the Dask scheduler at {address} did not answer within "
            f"{timeout_s:g} s ({type(exc).__name__}); start it (`dask scheduler`) or leave "
            "engine_address empty for a local cluster"
        ) from None
    workers = len(client.scheduler_info().get("workers", {}))
    client.close()
    log.info("Dask scheduler at %s answers (%d workers)", address, workers)


def _nanny_variables() -> set[str]:
    """The variables Dask's nannies write into this process's environment before they
    spawn their workers (`distributed.nanny.pre-spawn-environ`: MALLOC_TRIM_THRESHOLD_,
    OMP_NUM_THREADS=1 and the like, and PYTHONHASHSEED). Left there, every process the run
    starts after its data stages would inherit them: fine-tunes and torchrun workers on
    one thread, and glibc's mmap threshold held at 128 KiB for every tensor."""
    import dask

    return {*dask.config.get("distributed.nanny.pre-spawn-environ", {}), "PYTHONHASHSEED"}


@contextmanager
def dask_cluster(cfg: RunConfig, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """The scheduler address to run on, for the duration of the block.

    `env` is set in the local workers' environment (the Prefect API they report to).
    """
    if cfg.engine_address is not None:
        check_scheduler(cfg.engine_address, cfg.dask.connect_timeout_s)
        yield cfg.engine_address
        return
    from dask.distributed import LocalCluster

    # The scheduler runs in this process and logs every client and worker at INFO, and
    # the nannies warn when they end workers at close (Prefect's threads keep them up).
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with environment_kept(_nanny_variables()):
            try:
                cluster = LocalCluster(
                    n_workers=cfg.dask.workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    memory_limit=cfg.dask.memory_limit,
                    env=dict(env or {}),
                    silence_logs=logging.ERROR,
                )
            except (OSError, RuntimeError, TimeoutError) as exc:
                raise ClusterError(
                    f"engine: dask: the local Dask cluster ({cfg.dask.workers} workers on "
                    f"127.0.0.1) did not start ({exc})"
                ) from None
            log.info(
                "local Dask cluster at %s (%d workers)",
                cluster.scheduler_address,
                cfg.dask.workers,
            )
            try:
                yield cluster.scheduler_address
            finally:
                cluster.close()
    finally:
        quiet.setLevel(level)
