"""Row plumbing shared by the dataset-layout readers (`formats.py`, `idx.py`, `movielens.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

Batch = tuple[pa.Table, int]


@dataclass(frozen=True)
class ReadContext:
    """What a multi-file reader needs besides its main file."""

    table: str
    companions: dict[str, str] = field(default_factory=dict)  # role -> resolved URL


def string_table(rows: dict[str, list[Any]]) -> pa.Table:
    """Source columns as text (converted to canonical types later), errors as they are."""
    return pa.table({name: pa.array(values, type=pa.string()) for name, values in rows.items()})


class RowBuffer:
    """Collects rows column by column and hands them out as batches with their first row."""

    def __init__(self, columns: tuple[str, ...], batch_rows: int) -> None:
        self.columns = (*columns, "_ingest_error")
        self.batch_rows = batch_rows
        self.rows: dict[str, list[Any]] = {c: [] for c in self.columns}
        self.first = 1

    def add(self, row_number: int, error: str | None = None, **values: Any) -> Batch | None:
        if not self.rows["_ingest_error"]:
            self.first = row_number
        for column in self.columns[:-1]:
            self.rows[column].append(values.get(column))
        self.rows["_ingest_error"].append(error)
        return self.flush() if len(self.rows["_ingest_error"]) >= self.batch_rows else None

    def flush(self) -> Batch | None:
        if not self.rows["_ingest_error"]:
            return None
        batch = string_table(self.rows), self.first
        self.rows = {c: [] for c in self.columns}
        return batch
