"""The data stages' allocator setting: jemalloc for Arrow."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref

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


# glibc's mmap threshold rises to the size of a mapped block once it is freed: the 8 MB
# block lifts it, so the 4 MB blocks after it come from the heap and stay resident when
# freed. Fixed at 1 MiB, each is its own mapping, handed back when freed.
THRESHOLD_SCRIPT = """
import os, subprocess, sys

def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

from karpa.allocators import fix_mmap_threshold
fixed = sys.argv[1] == "fixed"
if fixed:
    assert fix_mmap_threshold(1)
del bytearray(8 * 2**20)[:]
blocks = [bytearray(4 * 2**20) for _ in range(50)]  # 200 MB
keep = blocks[-1]
held = rss_mb()
del blocks
ask = "import os; print(os.environ.get('MALLOC_MMAP_THRESHOLD_'))"
child = subprocess.run([sys.executable, "-c", ask], capture_output=True, text=True).stdout.strip()
print(held - rss_mb(), child)
"""


@pytest.mark.skipif(not _glibc(), reason="mallopt's mmap threshold is glibc's")
def test_a_fixed_mmap_threshold_hands_freed_tensors_back_and_reaches_child_processes():
    # glibc's own threshold, whatever an earlier test set in this process: a run config's
    # MALLOC_MMAP_THRESHOLD_, or Dask's nanny, which writes MALLOC_TRIM_THRESHOLD_ into the
    # environment of the process that starts its workers. Any of glibc's malloc variables
    # stops the threshold's rise, and the control below would then hand the blocks back too.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"
    }

    def run(mode: str) -> tuple[float, str]:
        out = subprocess.run(
            [sys.executable, "-c", THRESHOLD_SCRIPT, mode],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return float(out[0]), out[1]

    glibc_drop, glibc_child = run("glibc")
    fixed_drop, fixed_child = run("fixed")
    assert glibc_drop < 50  # MB: the freed blocks stay in glibc's heap
    assert fixed_drop > 150  # most of the 200 MB went back
    assert glibc_child == "None" and fixed_child == str(2**20)


def test_the_mmap_threshold_is_checked_and_optional():
    from karpa.allocators import bound_heap, fix_mmap_threshold
    from karpa.config import ConfigError, load_config

    with pytest.raises(ValueError, match="1 to 32"):
        fix_mmap_threshold(64)
    with pytest.raises(ConfigError, match="mmap_threshold_mb"):
        load_config("demo", ["mmap_threshold_mb=64"])
    before = dict(os.environ)
    bound_heap(load_config("demo", []))  # not set: glibc keeps its own
    assert dict(os.environ) == before


class _Node:
    """A reference cycle's member that says when it is freed."""

    def __init__(self, freed: list[str], name: str) -> None:
        self.freed, self.name, self.other = freed, name, None

    def __del__(self) -> None:
        self.freed.append(self.name)


def _cycle(freed: list[str], name: str) -> _Node:
    """Two nodes that hold each other; the caller gets one (a cycle once it lets it go)."""
    a, b = _Node(freed, name), _Node(freed, name)
    a.other, b.other = b, a
    return a


def test_new_objects_only_sets_the_old_objects_aside_and_frees_new_cycles():
    from karpa.allocators import free_cycles, new_objects_only

    freed: list[str] = []
    old = _cycle(freed, "old")
    garbage = weakref.ref(_cycle(freed, "left before"))  # garbage before the block begins
    before = gc.get_freeze_count()  # 0 unless something else in this process froze objects
    with new_objects_only():
        assert garbage() is None and "left before" in freed  # collected as it begins
        # The count is no exact measure: a frozen object freed by its reference count
        # (here or in another thread) leaves it. What is set aside is seen by the cycles.
        assert gc.get_freeze_count() > before  # everything alive when it began
        made_inside = _cycle(freed, "made inside")
        with new_objects_only():  # nested: shares the outer block's freeze
            del made_inside
            free_cycles()
            assert "made inside" in freed  # the inner block set nothing more aside
        new = weakref.ref(_cycle(freed, "new"))
        free_cycles()
        assert new() is None and "new" in freed  # made inside: freed by the collection
        del old  # the old cycle becomes garbage inside the block, after the inner one ended
        free_cycles()
        assert "old" not in freed  # still set aside: the inner block handed nothing back
    assert gc.get_freeze_count() == before  # handed back at the end
    free_cycles()
    assert "old" in freed


def test_new_objects_only_hands_the_objects_back_when_the_block_fails():
    from karpa.allocators import new_objects_only

    before = gc.get_freeze_count()
    with pytest.raises(RuntimeError), new_objects_only():
        raise RuntimeError("a stage failed")
    assert gc.get_freeze_count() == before
