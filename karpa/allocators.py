"""Freed memory handed back to the system, not kept by the allocators.

The data stages read and write Parquet a batch at a time, so what they hold at once is
bounded; but resident memory also counts what allocators keep after it is freed, and a
process's peak then drifts up to the most it ever held plus what came after:

- Arrow allocates through its own pool, and the pip wheels' default (mimalloc) keeps
  freed pages for reuse. jemalloc, as Arrow configures it (decay 0), returns them at once.
- glibc's malloc (numpy, pandas, Python objects over 512 bytes) serves a freed large
  block's size from its heap from then on (its mmap threshold rises to it), and trims the
  heap only from the top: the heap grows with holes. A fixed threshold keeps blocks of
  128 KiB and more in their own mappings, returned when freed, and trims sooner.

`return_freed_memory` sets both for its process; each data stage calls it where it
starts, in whichever process it runs (the flow's, or a Dask worker's). Results do not
depend on it. The figures are README's "Memory and time" (bench/scale.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

import pyarrow as pa

log = logging.getLogger(__name__)

# glibc's mallopt parameters (malloc.h) and the value given to both.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
GLIBC_THRESHOLD = 128 * 1024

_done = False


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


def fix_glibc_thresholds() -> bool:
    """Fix glibc malloc's mmap and trim thresholds at `GLIBC_THRESHOLD`; False where the
    C library is not glibc (macOS, musl, Windows) and nothing was changed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(
        mallopt(M_MMAP_THRESHOLD, GLIBC_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, GLIBC_THRESHOLD)
    )


def return_freed_memory() -> None:
    """Both of the above, once per process."""
    global _done
    if _done:
        return
    use_jemalloc()
    fix_glibc_thresholds()
    _done = True
