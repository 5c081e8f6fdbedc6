"""Map a batch of source columns onto a canonical table's columns and types.

A value that cannot be parsed into its canonical type (a price of "abc", a timestamp of
"yesterday") is nulled and the row keeps a reason in `_ingest_error`, so validation can
quarantine it: nothing is dropped here. A required column missing from the source stops
ingestion with one sentence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from karpa.config import SourceSpec
from karpa.errors import SourceError
from karpa.ingest.scrub import masked
from karpa.schema import REQUIRED, TABLES, TS


def _errors_where(bad: np.ndarray, values: pa.Array, column: str, kind: str) -> list[str | None]:
    shown = values.to_pylist()
    return [
        f"column {column!r}: {masked(shown[i])!r} is not {kind}" if flag else None
        for i, flag in enumerate(bad)
    ]


def _to_float(values: pa.Array, column: str) -> tuple[pa.Array, list[str | None] | None]:
    if pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
        return pc.cast(values, pa.float64()), None
    text = pd.Series(values.to_pandas(), dtype="object")
    parsed = pd.to_numeric(text, errors="coerce")
    bad = (text.notna() & parsed.isna()).to_numpy()
    out = pa.array(parsed.to_numpy(dtype="float64"), mask=parsed.isna().to_numpy())
    return out, (_errors_where(bad, values, column, "a number") if bad.any() else None)


def _to_timestamp(
    values: pa.Array, column: str, unit: str | None
) -> tuple[pa.Array, list[str | None] | None]:
    if pa.types.is_timestamp(values.type):
        if values.type.tz is None:  # naive timestamps are taken as UTC
            values = pc.assume_timezone(values, "UTC")
        return pc.cast(values, TS), None
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type) or unit:
        numbers, errors = _to_float(values, column)
        scale = {"s": 1_000_000, "ms": 1_000, "us": 1}[unit or "s"]
        micros = pc.cast(pc.multiply(numbers, scale), pa.int64())
        return pc.cast(micros, TS), errors
    text = pd.Series(values.to_pandas(), dtype="object")
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    bad = (text.notna() & parsed.isna()).to_numpy()
    naive = parsed.dt.tz_convert(None).to_numpy(dtype="datetime64[us]")
    out = pc.cast(pa.array(naive, from_pandas=True), pa.timestamp("us")).cast(TS)
    return out, (_errors_where(bad, values, column, "an ISO-8601 timestamp") if bad.any() else None)


def _to_list(values: pa.Array, separator: str | None) -> pa.Array:
    if pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        return pc.cast(values, pa.list_(pa.string()))
    text = pc.cast(values, pa.string())
    return pc.split_pattern(text, separator or "|")


def _convert(
    values: pa.Array, target: pa.DataType, column: str, spec: SourceSpec
) -> tuple[pa.Array, list[str | None] | None]:
    if values.type == target:
        return values, None
    if pa.types.is_timestamp(target):
        return _to_timestamp(values, column, spec.timestamp_unit)
    if pa.types.is_floating(target):
        return _to_float(values, column)
    if pa.types.is_list(target):
        return _to_list(values, spec.list_separator.get(column)), None
    return pc.cast(values, target), None


def _delimiter_hint(found: list[str], spec: SourceSpec, table: str) -> str | None:
    """`the header has one column 'a;b;c': is the delimiter ';'?`, where that is likely."""
    if len(found) != 1:
        return None
    counts = {d: found[0].count(d) for d in (";", "\t", "|", ",") if d != spec.delimiter}
    delimiter = max(counts, key=counts.get)
    if not counts[delimiter]:
        return None
    return (
        f"the header has one column {found[0][:80]!r}: is the delimiter {delimiter!r}? "
        f"(set data.sources.{table}.delimiter)"
    )


def to_canonical(
    batch: pa.Table, table: str, spec: SourceSpec, source: str, first_row: int
) -> pa.Table:
    """Canonical columns, in canonical order and types, plus provenance."""
    schema = TABLES[table]
    n = batch.num_rows
    if "_row" in batch.column_names:  # a reader that skips lines numbers its rows itself
        rows = batch["_row"].to_numpy()
    else:
        rows = np.arange(first_row, first_row + n, dtype=np.int64)
    columns: dict[str, pa.Array] = {}
    # Sparse: most batches have no parse errors, and 1M empty lists cost real time.
    errors: dict[int, list[str]] = {}
    if "_ingest_error" in batch.column_names:
        for i, message in enumerate(batch["_ingest_error"].to_pylist()):
            if message:
                errors.setdefault(i, []).append(message)
    for field in schema:
        name = field.name
        if name.startswith("_"):
            continue
        src = spec.columns.get(name, name)
        if name in spec.constants:
            values = pa.array([spec.constants[name]] * n, type=pa.string())
        elif name == spec.row_id:
            stem = source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            values = pa.array([f"{stem}-{r}" for r in rows], type=pa.string())
        elif src in batch.column_names:
            values = batch[src].combine_chunks()
        elif name in REQUIRED[table] and n:
            found = [c for c in batch.column_names if not c.startswith("_")]
            hint = _delimiter_hint(found, spec, table)
            if hint:
                raise SourceError(
                    f"{source}: missing required column {src!r} for {table}.{name}; {hint}"
                )
            raise SourceError(
                f"{source}: missing required column {src!r} for {table}.{name} "
                f"(found {', '.join(map(repr, found))}); check the delimiter and "
                f"data.sources.{table}.columns"
            )
        else:
            columns[name] = pa.nulls(n, type=field.type)
            continue
        converted, problems = _convert(values, field.type, name, spec)
        columns[name] = converted
        for i, problem in enumerate(problems or []):
            if problem:
                errors.setdefault(i, []).append(problem)
    if "_source" in batch.column_names:  # image folders: one file per row
        columns["_source"] = batch["_source"].combine_chunks()
    else:
        columns["_source"] = pa.array([source] * n, type=pa.string())
    columns["_row"] = pa.array(rows)
    if errors:
        messages = ["; ".join(errors[i]) if i in errors else None for i in range(n)]
        columns["_ingest_error"] = pa.array(messages, type=pa.string())
    else:
        columns["_ingest_error"] = pa.nulls(n, type=pa.string())
    return pa.Table.from_pydict(columns, schema=schema)
