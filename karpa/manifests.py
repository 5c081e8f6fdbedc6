"""The small manifests that travel between stages: paths, fingerprints, row counts.

Never DataFrames, tensors or models (DESIGN.md): a manifest is cheap to pass through
Prefect, to print and to log, and it says everything a later stage needs to find its input.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TableManifest(BaseModel):
    """One canonical table in the store."""

    model_config = ConfigDict(frozen=True)

    table: str
    fingerprint: str
    path: str
    rows: int
    bytes: int
    skipped: bool = False
    sources: list[str] = []


class AlignManifest(BaseModel):
    """The aligned views: where they are, how many rows each, and the coverage figures."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    path: str
    views: dict[str, int]
    coverage: dict[str, float]
    transductive: bool = False
    skipped: bool = False
