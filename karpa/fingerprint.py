"""Content fingerprints: the keys of the content-addressed store.

A stage's output is keyed by the fingerprints of its inputs plus the part of the config it
reads (DESIGN.md), so an unchanged stage is skipped and any change invalidates exactly what
depends on it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import fsspec

CHUNK = 1 << 20
SHORT = 16  # hex characters kept in paths: 64 bits, plenty for one store


def digest_json(value: Any) -> str:
    """Stable sha256 of a JSON-serialisable value (key order does not matter)."""
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def digest_file(url: str) -> str:
    """sha256 of a file's bytes, read in chunks (works for any fsspec URL)."""
    h = hashlib.sha256()
    with fsspec.open(url, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def combine(parts: Iterable[str]) -> str:
    """One short fingerprint from several digests, order-sensitive."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:SHORT]
