"""Describe a table in a JSON-serialisable profile; two profiles are compared for drift.

A profile keeps, per column, what a drift check needs without the data: percentiles
(0..100) for numbers, text lengths, byte sizes and list lengths, and value shares for
categories and labels. The column's contract `role` decides which statistics it gets.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_contracts.loader import load_contract
from data_contracts.model import Contract, Property

logger = logging.getLogger(__name__)

PERCENTILES = np.linspace(0, 100, 101)
# A numeric column with this few distinct values is compared as categories (ratings 1-5).
LOW_CARDINALITY = 20
TOP_VALUES = 50
OTHER = "__other__"
VOCABULARY_SAMPLE_ROWS = 100_000


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=float)]


def _percentiles(values: pd.Series) -> list[float | None]:
    numbers = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    if len(numbers) == 0:
        return []
    return _floats(np.percentile(numbers, PERCENTILES))


def _shares(values: pd.Series, top: int = TOP_VALUES) -> dict[str, float]:
    return _shares_of(values.dropna().astype(str).value_counts(), top)


def _shares_of(counts: pd.Series, top: int = TOP_VALUES) -> dict[str, float]:
    """The shares of the `top` values, and of the others together, from value counts
    sorted largest first."""
    total = counts.sum()
    if total == 0:
        return {}
    shares = {str(k): float(v / total) for k, v in counts.head(top).items()}
    if len(counts) > top:
        shares[OTHER] = float(counts.iloc[top:].sum() / total)
    return shares


def _summary(quantiles: list[float | None]) -> dict[str, float | None]:
    if not quantiles:
        return {}
    return {"p5": quantiles[5], "p50": quantiles[50], "p95": quantiles[95]}


def _add_words(words: set[str], text: pd.Series, chunk: int = 10_000) -> None:
    """Add the distinct lower-cased words of `text` to `words`, `chunk` texts at a time:
    splitting makes one string object per word (millions for 100,000 messages), so only a
    chunk's words and the distinct ones seen so far are held at once."""
    for start in range(0, len(text), chunk):
        part = text.iloc[start : start + chunk].str.lower().str.split().explode().dropna()
        words.update(part.unique())


def _vocabulary(text: pd.Series, chunk: int = 10_000) -> int:
    """Distinct lower-cased words in `text`."""
    words: set[str] = set()
    _add_words(words, text, chunk)
    return len(words)


def _text_stats(values: pd.Series) -> dict[str, Any]:
    text = values.dropna().astype(str)
    sample = text.head(VOCABULARY_SAMPLE_ROWS)
    return {
        "length_quantiles": _percentiles(text.str.len()),
        "vocabulary_size": _vocabulary(sample),
        "vocabulary_sample_rows": len(sample),
    }


def _column_profile(values: pd.Series, prop: Property) -> dict[str, Any]:
    nulls = int(values.isna().sum())
    entry: dict[str, Any] = {
        "type": prop.type,
        "role": prop.role,
        "nulls": nulls,
        "null_share": nulls / len(values) if len(values) else 0.0,
    }
    present = values.dropna()
    if prop.type in ("integer", "number"):
        entry["distinct"] = int(present.nunique())
        entry["quantiles"] = _percentiles(present)
        entry["mean"] = float(present.mean()) if len(present) else None
        entry["std"] = float(present.std()) if len(present) > 1 else None
        if entry["distinct"] <= LOW_CARDINALITY:
            entry["value_shares"] = _shares(present)
    elif prop.type == "timestamp":
        entry["min"] = present.min().isoformat() if len(present) else None
        entry["max"] = present.max().isoformat() if len(present) else None
    elif prop.type == "binary":
        entry["bytes_quantiles"] = _percentiles(present.map(len))
    elif prop.type == "list":
        entry["length_quantiles"] = _percentiles(present.map(len))
        entry["distinct_elements"] = int(present.explode().dropna().nunique())
    else:
        entry["distinct"] = int(present.nunique())
        if prop.role == "text":
            entry.update(_text_stats(present))
        elif prop.role in ("category", "label") or prop.allowed is not None:
            entry["value_shares"] = _shares(present)
    return entry


# Column types `ColumnProfile` profiles from batches; the others are a few bytes a row,
# and are profiled whole.
BATCHED_TYPES = ("string", "binary")


class ColumnProfile:
    """One string or binary column's profile from Arrow batches added in row order: what
    `_column_profile` gives on the whole column (as pandas converts it), holding a batch,
    the column's distinct values (Arrow, not Python objects) and its per-row lengths,
    not its values. Binary columns keep only the lengths.

    The value shares are the whole column's `value_counts`: counts in order of first
    appearance, then sorted as pandas sorts them, so ties come out in the same order."""

    def __init__(self, prop: Property) -> None:
        if prop.type not in BATCHED_TYPES:
            raise ValueError(f"ColumnProfile profiles {BATCHED_TYPES} columns, not {prop.type}")
        self.prop = prop
        self.rows = self.nulls = 0
        self._distinct: list[pa.Array] = []
        self._lengths: list[np.ndarray] = []
        self._words: set[str] = set()
        self._sampled = 0
        self._shares = prop.role in ("category", "label") or prop.allowed is not None
        self._counts: dict[str, int] = {}

    def add(self, values: pa.Array | pa.ChunkedArray) -> None:
        self.rows += len(values)
        self.nulls += values.null_count
        present = pc.drop_null(values)
        if self.prop.type == "binary":
            self._lengths.append(pc.binary_length(present).to_numpy(zero_copy_only=False))
            return
        self._distinct.append(pc.unique(present))
        if self.prop.role == "text":
            self._lengths.append(pc.utf8_length(present).to_numpy(zero_copy_only=False))
            take = min(len(present), VOCABULARY_SAMPLE_ROWS - self._sampled)
            if take > 0:
                _add_words(self._words, present.slice(0, take).to_pandas())
                self._sampled += take
        elif self._shares:
            found = pc.value_counts(present)
            names = found.field("values").to_pylist()
            for name, n in zip(names, found.field("counts").to_pylist(), strict=True):
                self._counts[name] = self._counts.get(name, 0) + n

    def result(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "type": self.prop.type,
            "role": self.prop.role,
            "nulls": self.nulls,
            "null_share": self.nulls / self.rows if self.rows else 0.0,
        }
        lengths = pd.Series(np.concatenate(self._lengths) if self._lengths else [], dtype=float)
        if self.prop.type == "binary":
            entry["bytes_quantiles"] = _percentiles(lengths)
            return entry
        distinct = pc.count_distinct(pa.chunked_array(self._distinct)) if self._distinct else None
        entry["distinct"] = int(distinct.as_py()) if distinct is not None else 0
        if self.prop.role == "text":
            entry["length_quantiles"] = _percentiles(lengths)
            entry["vocabulary_size"] = len(self._words)
            entry["vocabulary_sample_rows"] = self._sampled
        elif self._shares:
            counts = pd.Series(self._counts, dtype="int64")
            entry["value_shares"] = _shares_of(counts.sort_values(ascending=False))
        return entry


def profile_table(
    frame: pd.DataFrame, table: str, contract: Contract | None = None
) -> dict[str, Any]:
    """Profile `frame` (a canonical table) for reports and drift checks.

    Returns nulls and distinct counts per column, percentiles of numbers, text lengths
    and vocabulary size (over the first 100,000 texts), label distributions, the event
    type mix (events) and image size statistics (images), plus the contract's drift
    thresholds so that a later comparison applies them.
    """
    contract = contract or load_contract(table)
    columns = {
        name: _column_profile(frame[name], prop)
        for name, prop in contract.properties.items()
        if name in frame.columns
    }
    return profile_columns(columns, len(frame), table, contract)


def profile_columns(
    columns: dict[str, Any], rows: int, table: str, contract: Contract
) -> dict[str, Any]:
    """The table profile from its columns' profiles (made whole, or one column at a time)."""
    columns = {name: columns[name] for name in contract.properties if name in columns}
    profile: dict[str, Any] = {
        "table": table,
        "rows": rows,
        "contract_version": contract.version,
        "drift_thresholds": contract.drift.model_dump(),
        "columns": columns,
        "labels": {
            name: entry.get("value_shares", {})
            for name, entry in columns.items()
            if entry["role"] == "label"
        },
    }
    if "event_type" in columns:
        profile["event_types"] = columns["event_type"].get("value_shares", {})
    if table == "images":
        profile["images"] = {
            name: _summary(columns[name].get("quantiles") or columns[name].get("bytes_quantiles"))
            for name in ("width", "height", "bytes")
            if name in columns
        }
    logger.debug("profiled %s: %d rows, %d columns", table, rows, len(columns))
    return profile
