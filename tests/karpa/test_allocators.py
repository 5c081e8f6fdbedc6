"""The data stages' allocator settings: jemalloc for Arrow, fixed glibc thresholds."""

from __future__ import annotations

import platform
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
from karpa.allocators import fix_glibc_thresholds, return_freed_memory
return_freed_memory()
return_freed_memory()  # once per process; a second call is harmless
values = pa.array(range(1_000_000))
print(before, imported, pa.default_memory_pool().backend_name,
      pa.jemalloc_memory_pool().bytes_allocated(), fix_glibc_thresholds())
"""


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow is built without jemalloc")
def test_return_freed_memory_sets_jemalloc_and_glibc_thresholds():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    before, imported, now, held, glibc = out
    assert imported == before  # no side effect at import
    assert now == "jemalloc"
    assert int(held) >= 8_000_000  # the million int64 went through jemalloc
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert glibc == str(on_glibc)
