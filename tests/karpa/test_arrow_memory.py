"""Arrow's pool: the data stages switch it to jemalloc, which returns freed memory."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pytest

# A fresh interpreter: the pool is process-wide, and this test's own may be switched already.
SCRIPT = """
import pyarrow as pa
before = pa.default_memory_pool().backend_name
from karpa.align.stage import align  # importing a stage switches nothing
imported = pa.default_memory_pool().backend_name
from karpa.arrow_memory import use_jemalloc
name = use_jemalloc()
values = pa.array(range(1_000_000))
print(before, imported, name, use_jemalloc(), pa.jemalloc_memory_pool().bytes_allocated())
"""


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow is built without jemalloc")
def test_use_jemalloc_makes_it_the_default_pool():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    before, imported, name, again, held = out
    assert imported == before  # no side effect at import
    assert name == again == "jemalloc"  # and a second call keeps it
    assert int(held) >= 8_000_000  # the million int64 went through jemalloc
