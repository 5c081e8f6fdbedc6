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

glibc's malloc maps a block above its mmap threshold fresh and unmaps it when it is freed;
blocks below it come from the heap, whose free pages stay resident. The threshold starts
at 128 KiB and rises to the size of each mapped block freed (up to 32 MiB), so after a
training step's first large tensor is freed the activations of the next ones come from the
heap, and its fragments keep the process's resident memory at about twice what the step
holds live (a MiniLM-started pretraining step on Banking77 with activation checkpointing:
3.4 GB resident against 1.7 GB with a fixed 4 MiB threshold). `fix_mmap_threshold` fixes
it, for runs whose memory matters more than their speed (`mmap_threshold_mb` in the run
config): every tensor above the threshold then costs a fresh mapping and its page faults,
about a quarter of that step's samples/s at 4 or 8 MiB, and at 16 MiB little time and
little memory (README, Performance: bench/pretrain_memory.py).
By default the threshold is left to glibc; `trim_heap` hands glibc's free pages back once,
where pretraining ends: its activations are freed by then, and the fine-tunes that run
next in the same process would otherwise add their own peak on top.

Memory that is not freed at all also counts: a frame in a reference cycle (pandas' and
Great Expectations' objects make many) is freed only when Python's cyclic collector
runs, which it does by counts of objects, not bytes, so a partition's or a view's frames
could outlive it by several more. `free_cycles` collects where a stage lets a batch go.
A full collection scans every object the process holds, though: some 0.4 s with the
pipeline's libraries loaded on 2 cores, and seconds in a long-lived process (a test
session's) — per partition. Inside `new_objects_only`, the stages' block, the objects that
existed before it are set aside (`gc.freeze`), so each collection scans only what the
stage made since.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from karpa.config import RunConfig

log = logging.getLogger(__name__)

_done = False
_frozen_depth = 0
_frozen_lock = threading.Lock()
M_MMAP_THRESHOLD = -3  # mallopt's parameter number (glibc's malloc.h)
MAX_MMAP_THRESHOLD_MB = 32  # glibc refuses more on 64-bit (HEAP_MAX_SIZE / 2)


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
    partition, a table, a view), where the last batch's frames are garbage. Inside
    `new_objects_only` it scans only the objects made in the block."""
    gc.collect()


@contextmanager
def new_objects_only() -> Iterator[None]:
    """Within the block, the cyclic collector leaves alone every object that existed
    when it began (`gc.freeze`; `gc.unfreeze` at its end hands them back): a stage's
    `free_cycles` between batches then costs what the stage made, not what the process
    holds. What was garbage when it began is collected first, once; old objects that
    become garbage inside the block wait for the first collection after it. Nested
    blocks (or a second thread's) share the outermost one's freeze: an inner
    `gc.unfreeze` would hand back the outer block's objects too."""
    global _frozen_depth
    with _frozen_lock:
        if _frozen_depth == 0:
            gc.collect()  # once: what earlier work left in cycles, before it is set aside
            gc.freeze()
        _frozen_depth += 1
    try:
        yield
    finally:
        with _frozen_lock:
            _frozen_depth -= 1
            if _frozen_depth == 0:
                gc.unfreeze()


def fix_mmap_threshold(mb: int) -> bool:
    """Fix glibc malloc's mmap threshold at `mb` MiB in this process (its rise with each
    large block freed stops) and, through `MALLOC_MMAP_THRESHOLD_`, in the processes it
    starts from now on (torchrun's workers, spawned fine-tunes, Dask workers). -> whether
    this process took it; False where the C library is not glibc."""
    if not 1 <= mb <= MAX_MMAP_THRESHOLD_MB:
        raise ValueError(f"mmap threshold {mb} MiB: glibc takes 1 to {MAX_MMAP_THRESHOLD_MB}")
    size = mb << 20
    os.environ["MALLOC_MMAP_THRESHOLD_"] = str(size)
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl, macOS, Windows
        return False
    taken = bool(mallopt(M_MMAP_THRESHOLD, size))
    if taken:
        log.info("glibc mmap threshold fixed at %d MiB", mb)
    else:
        log.warning("glibc refused an mmap threshold of %d MiB; keeping its own", mb)
    return taken


def bound_heap(cfg: RunConfig) -> None:
    """The run config's `mmap_threshold_mb`, if set, for this process (where a pipeline
    starts) and the ones it starts."""
    if cfg.mmap_threshold_mb is not None:
        fix_mmap_threshold(cfg.mmap_threshold_mb)
