"""Process environment variables that a block may change and that are put back after it.

Some libraries write into `os.environ` as a side effect (MLflow's `set_tracking_uri`, Dask's
nannies before they spawn workers), and every process started later inherits what they
leave there. `environment_kept` undoes that where karpa calls them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


@contextmanager
def environment_kept(keys: Iterable[str]) -> Iterator[None]:
    """Within the block `keys` may change; when it ends, each is as it was before
    (set to its old value, or removed if it was unset)."""
    before = {key: os.environ.get(key) for key in keys}
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
