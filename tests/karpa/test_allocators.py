"""The data stages' allocator setting: jemalloc for Arrow."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pytest

# A fresh interpreter: the settings are process-wide, and this one's may be set already.
SCRIPT = """
import pyarrow as pa
before = pa.default_memory_pool().backend_name
from karpa.align.stage import align  # importing a stage changes nothing
imported = pa.default_memory_pool().backend_name
from karpa.allocators import return_freed_memory
return_freed_memory()
return_freed_memory()  # once per process; a second call is harmless
values = pa.array(range(1_000_000))
print(before, imported, pa.default_memory_pool().backend_name,
      pa.jemalloc_memory_pool().bytes_allocated())
"""


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow is built without jemalloc")
def test_return_freed_memory_makes_jemalloc_the_arrow_pool():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    before, imported, now, held = out
    assert imported == before  # no side effect at import
    assert now == "jemalloc"
    assert int(held) >= 8_000_000  # the million int64 went through jemalloc


# Arrow's C++ default pool is chosen when pyarrow loads; karpa, imported first, chooses it.
POOL_SCRIPT = """
import os
os.environ.pop("ARROW_DEFAULT_MEMORY_POOL", None)
import karpa
import pyarrow as pa
print(os.environ["ARROW_DEFAULT_MEMORY_POOL"], pa.default_memory_pool().backend_name)
"""


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow is built without jemalloc")
def test_importing_karpa_first_makes_jemalloc_arrows_cpp_default():
    out = subprocess.run(
        [sys.executable, "-c", POOL_SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["jemalloc", "jemalloc"]


# Blocks below glibc's mmap threshold come from its heap; freed, their pages stay resident
# until trimmed. The last block stays alive, so the heap's top is in use and only the trim
# of free pages inside the heap can hand the others back.
TRIM_SCRIPT = """
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

from karpa.allocators import trim_heap
blocks = [bytearray(64 * 1024) for _ in range(4000)]  # 250 MB
keep = blocks[-1]
del blocks
freed = rss_mb()
released = trim_heap()
print(int(released), freed, rss_mb())
"""


def _glibc() -> bool:
    import platform

    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not _glibc(), reason="malloc_trim is glibc's")
def test_trim_heap_hands_freed_heap_pages_back():
    out = subprocess.run(
        [sys.executable, "-c", TRIM_SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    released, freed, trimmed = int(out[0]), float(out[1]), float(out[2])
    assert released == 1
    assert freed - trimmed > 150  # MB: most of the 250 MB freed went back
