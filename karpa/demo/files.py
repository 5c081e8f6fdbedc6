"""Writing the world's files: atomically, and with timestamps in one fixed format."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np


@contextmanager
def atomic_open(path: Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary sibling of `path` and move it into place only on success.

    A crash mid-write leaves no half-written file that looks valid (DESIGN.md, Trust).
    """
    tmp = path.with_name(f".{path.name}.tmp")
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    try:
        with open(tmp, mode, **kwargs) as f:
            yield f
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def iso_seconds(ts_us: int) -> str:
    """ISO-8601 UTC with a `Z`, to the second, from microseconds since the Unix epoch."""
    return str(np.datetime64(ts_us // 1_000_000, "s")) + "Z"


def iso_seconds_many(ts_us: np.ndarray) -> list[str]:
    """`iso_seconds` for an array, vectorised."""
    text = np.datetime_as_string((ts_us // 1_000_000).astype("datetime64[s]"), unit="s")
    return [t + "Z" for t in text.tolist()]
