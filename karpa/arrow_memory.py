"""Arrow's memory handed back to the system as soon as it is freed.

The data stages read and write Parquet a batch at a time, so what they hold at once is
bounded; but Arrow allocates through its own pool, and the pip wheels' default
(mimalloc) keeps freed pages for reuse rather than returning them, so a process's
resident memory stays near the most it ever held. jemalloc, as Arrow configures it
(decay 0), returns freed pages at once. Measured on 10x the demo world, peak resident
memory of the validate / align stages in one process: 985 / 877 MB with mimalloc, 708 /
681 MB with jemalloc (bench/scale.py gives the whole runs, README "Memory and time").

Each data stage calls `use_jemalloc` where it starts, in whichever process it runs (the
flow's, or a Dask worker's); builds of pyarrow without jemalloc keep their default pool.
"""

from __future__ import annotations

import logging

import pyarrow as pa

log = logging.getLogger(__name__)


def use_jemalloc() -> str:
    """Make jemalloc Arrow's default memory pool in this process, if this pyarrow has it;
    returns the pool's backend name ("jemalloc", or the default's where it has not)."""
    pool = pa.default_memory_pool()
    if pool.backend_name == "jemalloc":
        return pool.backend_name
    try:
        jemalloc = pa.jemalloc_memory_pool()
    except NotImplementedError:  # built without it (e.g. Windows wheels)
        log.debug("pyarrow has no jemalloc; keeping the %s pool", pool.backend_name)
        return pool.backend_name
    pa.set_memory_pool(jemalloc)
    return jemalloc.backend_name
