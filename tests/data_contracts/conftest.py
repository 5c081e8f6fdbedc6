"""Fixtures for the data-contract tests: canonical frames built the way ingestion builds them."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

from data_contracts import Contract, load_contracts
from karpa.schema import TABLES

REFERENCE = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
RECENT = dt.datetime(2025, 5, 30, 12, tzinfo=dt.UTC)


def canonical_frame(table: str, rows: list[dict], source: str | None = None) -> pd.DataFrame:
    """A frame with the canonical schema of `table`; absent columns are null.

    `_source` defaults to `<table>.csv` and `_row` to the 1-based position, as ingestion writes.
    """
    filled = []
    for position, row in enumerate(rows, start=1):
        filled.append({"_source": source or f"{table}.csv", "_row": position, **row})
    return pa.Table.from_pylist(filled, schema=TABLES[table]).to_pandas()


def png_bytes(width: int = 16, height: int = 16, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), color=0).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def contracts() -> dict[str, Contract]:
    return load_contracts()


@pytest.fixture
def frame() -> Callable[..., pd.DataFrame]:
    return canonical_frame


@pytest.fixture
def item_rows() -> Callable[[int], list[dict]]:
    def make(count: int) -> list[dict]:
        return [
            {
                "item_id": f"item-{i}",
                "title": f"Red mug {i}",
                "description": "A sturdy mug.",
                "category": "kitchen",
                "attributes": '{"colour": "red"}',
                "price": 9.5 + i,
                "created_at": RECENT,
            }
            for i in range(count)
        ]

    return make


@pytest.fixture
def event_rows() -> Callable[[int], list[dict]]:
    def make(count: int, items: int = 5) -> list[dict]:
        kinds = ["view", "click", "cart", "purchase", "rating"]
        return [
            {
                "user_id": f"user-{i % 7}",
                "item_id": f"item-{i % items}",
                "event_type": kinds[i % len(kinds)],
                "value": 1.0 + i % 5,
                "ts": RECENT,
                "session_id": f"s-{i % 3}",
            }
            for i in range(count)
        ]

    return make


@pytest.fixture
def reference() -> dt.datetime:
    """The run's reference time: what `now` means in time bounds and freshness."""
    return REFERENCE


@pytest.fixture
def png() -> Callable[..., bytes]:
    return png_bytes
