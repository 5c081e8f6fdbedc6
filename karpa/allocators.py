"""Freed memory handed back to the system, not kept by the allocators.

The data stages read and write Parquet a batch at a time, so what they hold at once is
bounded; but resident memory also counts what allocators keep after it is freed, and a
process's peak then drifts up to the most it ever held plus what came after.

Arrow allocates through its own pool, and the pip wheels' default (mimalloc) keeps freed
pages for reuse; jemalloc, with its decay set to 0 (`use_jemalloc`), returns them. There
are two defaults: pyarrow's, for what Python code allocates (arrays, tables,
`to_pandas`), which `return_freed_memory` makes jemalloc in its process (each data stage
calls it where it starts, in whichever process it runs: the flow's, or a Dask
worker's); and the C++ library's, for what Arrow allocates inside (decompressed Parquet
pages, the readers' buffers), which is chosen once, when pyarrow loads, from
`ARROW_DEFAULT_MEMORY_POOL`: `karpa/__init__.py` sets that to jemalloc before karpa
imports pyarrow. At 10x the demo world the second alone held some 70 MB of freed pages
after ingestion (276 against 206 MB resident). Results do not depend on either. The
figures are README's "Memory and time" (bench/scale.py).

glibc's malloc keeps its thresholds. Fixing its mmap and trim thresholds low (128 KiB) also
hands numpy's and pandas' freed blocks back, but the setting is process-wide and cannot
be undone, and pretraining runs in the flow's process after the data stages: every
tensor over the threshold then becomes a fresh mapping, page faults included, and a
CPU training step measured 20 % slower (264 against 218 ms for a two-layer MLP step).
Instead `trim_heap` hands glibc's free pages back once, where pretraining ends: its
activations are freed by then, but glibc keeps their pages (its mmap threshold rises with
each large block freed, so later blocks come from the heap), and the fine-tunes that run
next in the same process would otherwise add their own peak on top.

Memory that is not freed at all also counts: a frame in a reference cycle (pandas' and
Great Expectations' objects make many) is freed only when Python's cyclic collector
runs, which it does by counts of objects, not bytes, so a partition's or a view's frames
could outlive it by several more. `free_cycles` collects where a stage lets a batch go.
"""

from __future__ import annotations

import ctypes
import gc
import logging

import pyarrow as pa

log = logging.getLogger(__name__)

_done = False


def use_jemalloc() -> str:
    """Make jemalloc Arrow's default memory pool in this process, returning freed pages at
    once, if this pyarrow has it; returns the pool's backend name ("jemalloc", or the
    default's where it has not).

    Arrow configures its jemalloc to return freed pages over a second (`dirty_decay_ms`
    and `muzzy_decay_ms` 1000), and purges only when it allocates again: while a stage
    streams batches, the pages of the last second's batches stay resident. Decay 0 hands
    them back as they are freed (at 10x the demo world the data stages' peak fell by some
    30 MB). The setting applies to the jemalloc arenas Arrow's threads create after it,
    so it is made before the stages allocate much."""
    pool = pa.default_memory_pool()
    try:
        jemalloc = pa.jemalloc_memory_pool()
    except NotImplementedError:  # built without it (e.g. Windows wheels)
        log.debug("pyarrow has no jemalloc; keeping the %s pool", pool.backend_name)
        return pool.backend_name
    pa.jemalloc_set_decay_ms(0)
    if pool.backend_name != "jemalloc":
        pa.set_memory_pool(jemalloc)
    return jemalloc.backend_name


def return_freed_memory() -> None:
    """`use_jemalloc`, once per process."""
    global _done
    if _done:
        return
    use_jemalloc()
    _done = True


def trim_heap() -> bool:
    """Return the C heap's free pages to the system (glibc's `malloc_trim(0)`, which also
    releases free pages inside the heap, not only at its top). -> whether any went back;
    False where the C library is not glibc (nothing to do there)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # musl, macOS, Windows
        return False
    free_cycles()  # what only reference cycles hold is freed first
    return bool(trim(0))


def free_cycles() -> None:
    """Free what only reference cycles keep: called between a stage's batches (a
    partition, a table, a view), where the last batch's frames are garbage. A full
    collection takes tens of milliseconds with the data stages' libraries loaded."""
    gc.collect()
