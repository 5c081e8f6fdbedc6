"""karpa: the retraining pipeline's library (DESIGN.md)."""

import os as _os
import sys as _sys

# Arrow's C++ code (the Parquet, CSV and JSON readers and writers, compute kernels)
# allocates from the memory pool chosen when pyarrow loads, which `pa.set_memory_pool`
# does not change; the pip wheels' choice, mimalloc, keeps freed pages. Chosen here,
# before karpa imports pyarrow, and inherited by the processes it starts (Dask workers):
# see karpa/allocators.py. A process that loaded pyarrow first keeps its pool.
if _sys.platform != "win32":  # the Windows wheels have no jemalloc
    _os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
