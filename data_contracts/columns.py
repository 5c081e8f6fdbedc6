"""The canonical tables' columns and their types, as the packaged contracts declare them.

This is the one place column types are written: ingestion builds its Arrow schemas from
here (karpa.schema), and a contract loaded from elsewhere is checked against it. Read
straight from the YAML files (a contract's full parse checks its columns against these).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pyarrow as pa
import yaml

CONTRACTS_DIR = Path(__file__).resolve().parent
# The canonical tables, in the order of the data flow (DESIGN.md): one contract each.
CANONICAL_TABLES: tuple[str, ...] = ("items", "images", "events", "messages", "news")
TIMESTAMP = pa.timestamp("us", tz="UTC")
# A contract's column type -> the Arrow type ingestion writes.
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "timestamp": TIMESTAMP,
    "binary": pa.binary(),
    "list": pa.list_(pa.string()),
}


@functools.cache
def declared_types(table: str) -> dict[str, str]:
    """Column -> contract type of a canonical table, in the contract's (the table's) order."""
    if table not in CANONICAL_TABLES:
        raise KeyError(f"{table!r} is not a canonical table ({', '.join(CANONICAL_TABLES)})")
    data = yaml.safe_load((CONTRACTS_DIR / f"{table}.yaml").read_text(encoding="utf-8"))
    return {column: prop["type"] for column, prop in data["properties"].items()}


def arrow_fields(table: str) -> list[pa.Field]:
    """The Arrow fields of a canonical table's data columns, as its contract declares them."""
    return [pa.field(column, ARROW_TYPES[kind]) for column, kind in declared_types(table).items()]
