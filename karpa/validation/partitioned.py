"""Validation partition by partition: each worker holds one row range of one table.

The same verdict as the whole-table path (data_contracts/partitions.py says how), with
bounded memory: a partition is read from the ingested Parquet file by row range, scrubbed,
checked against the row rules, and later split into accepted and quarantined rows that
are written as partition files and then streamed into the table's one accepted file. Only
keys travel whole: the columns the whole-table rules read (uniqueness, row count,
freshness, label shares), and the accepted keys a cross-table rule checks against.

Where the partitions run is the caller's choice (`Partitions.map`): in this process, or
as Prefect task runs on a Dask cluster (flows/data_stages.py). Tables are validated in
the order their cross-table rules need (items before events).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from karpa.allocators import free_cycles, return_freed_memory
from karpa.manifests import TableManifest
from karpa.schema import TABLES

log = logging.getLogger(__name__)

# Rows and bytes per partition when validation runs in one process (no `partitions`
# given): what the process holds at once, whatever the table's size. The bytes bound the
# tables of long rows (texts, images), whose 100,000 rows are many times an event's: at
# the demo world's 1x scale every table fits one such partition, at 10x the messages,
# news and images are cut into partitions of about the 1x tables' size.
SERIAL_PARTITION_ROWS = 100_000
SERIAL_PARTITION_BYTES = 4 * 2**20

Mapper = Callable[[Callable[[Any], Any], list[Any]], list[Any]]


def serial_map(fn: Callable[[Any], Any], jobs: list[Any]) -> list[Any]:
    """Run the partitions one after another in this process."""
    return [fn(job) for job in jobs]


@dataclass(frozen=True)
class Partitions:
    """How to partition (at most `rows` per partition and, where given, about `max_bytes`
    of the table's uncompressed Parquet data: see `plan_file`) and where to run them
    (`map`, which returns one result per job, in order)."""

    rows: int
    map: Mapper = serial_map
    max_bytes: int | None = None


@dataclass(frozen=True)
class PartitionJob:
    """One row range of one table, and what checking it needs (keys, not rows)."""

    table: str
    index: int
    path: str
    start: int
    stop: int
    contract: Any  # data_contracts.Contract
    reference_time: dt.datetime
    scrub: tuple[str, ...]
    out: str
    known: dict[str, np.ndarray] = field(default_factory=dict)
    reasons: pd.Series | None = None  # the table's quarantine reasons, for the split

    @property
    def name(self) -> str:
        return f"{self.table}-{self.index:04d} rows {self.start + 1:,}-{self.stop:,}"


def plan(rows: int, partition_rows: int) -> list[tuple[int, int]]:
    """Row ranges of at most `partition_rows` covering `rows` (one empty range for 0)."""
    if rows == 0:
        return [(0, 0)]
    return [(s, min(s + partition_rows, rows)) for s in range(0, rows, partition_rows)]


def plan_file(
    metadata: pq.FileMetaData, partition_rows: int, partition_bytes: int | None = None
) -> list[tuple[int, int]]:
    """Row ranges of at most `partition_rows` rows and, with `partition_bytes`, about that
    many bytes each, covering the file (one empty range for no rows).

    A row's bytes are estimated as its row group's uncompressed size over its rows (the
    file's metadata, nothing is read): a table of images or long texts gets fewer rows
    per partition than one of events. A row larger than the limit is a partition of its
    own. Without `partition_bytes` the ranges are `plan`'s."""
    rows = metadata.num_rows
    if partition_bytes is None or rows == 0:
        return plan(rows, partition_rows)
    ranges: list[tuple[int, int]] = []
    start = position = taken = 0
    used = 0.0
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        per_row = group.total_byte_size / group.num_rows if group.num_rows else 0.0
        left = group.num_rows
        while left:
            room = partition_rows - taken
            if per_row > 0:
                room = min(room, int((partition_bytes - used) // per_row))
            if room <= 0 and taken:  # full: close it, the row starts the next
                ranges.append((start, position))
                start, taken, used = position, 0, 0.0
                continue
            step = min(max(room, 1), left)
            position, taken, left = position + step, taken + step, left - step
            used += step * per_row
            if taken == partition_rows:
                ranges.append((start, position))
                start, taken, used = position, 0, 0.0
    if taken:
        ranges.append((start, position))
    return ranges


def read_rows(path: str | Path, start: int, stop: int) -> pa.Table:
    """Rows `start..stop` of a Parquet file, reading only the row groups that hold them."""
    file = pq.ParquetFile(path)
    groups, first, position = [], None, 0
    for g in range(file.metadata.num_row_groups):
        n = file.metadata.row_group(g).num_rows
        if position + n > start and position < stop:
            groups.append(g)
            first = position if first is None else first
        position += n
    if not groups:
        return file.schema_arrow.empty_table()
    return file.read_row_groups(groups).slice(start - first, stop - start)


def _frame(job: PartitionJob) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """The partition as the whole-table path sees it: converted, then scrubbed column by
    column (ingestion scrubbed already; this finds what a table made elsewhere still has)."""
    from data_contracts import scrub_frame

    return_freed_memory()  # the jobs may run in a Dask worker's process
    free_cycles()  # the last partition's frames
    frame = read_rows(job.path, job.start, job.stop).to_pandas()
    counts: dict[str, dict[str, int]] = {}
    for column in job.scrub:
        frame, counts[column] = scrub_frame(frame, [column])
    return frame, counts


def check_job(job: PartitionJob) -> tuple[Any, dict[str, dict[str, int]]]:
    """The row rules' verdict on one partition, and the personal data scrubbed in it."""
    from data_contracts.partitions import check_partition

    started = time.monotonic()
    frame, pii = _frame(job)
    verdict = check_partition(
        frame, job.contract, offset=job.start, reference_time=job.reference_time, known=job.known
    )
    log.info("%s: checked in %.1f s", job.name, time.monotonic() - started)
    return verdict, pii


def split_job(job: PartitionJob) -> tuple[int, pd.DataFrame]:
    """Write the partition's accepted rows to a part file; hand back how many, and the
    quarantined rows (with reasons)."""
    from data_contracts.partitions import split_partition

    frame, _ = _frame(job)
    accepted, quarantine = split_partition(frame, job.reasons, job.start)
    if len(accepted) + len(quarantine) != len(frame):
        raise RuntimeError(
            f"validate {job.name}: {len(frame)} rows in but {len(accepted)} accepted + "
            f"{len(quarantine)} quarantined"
        )
    schema = TABLES[job.table]
    table = pa.Table.from_pandas(accepted[schema.names], schema=schema, preserve_index=False)
    pq.write_table(table, Path(job.out) / f"{job.index:06d}.parquet", compression="zstd")
    return table.num_rows, quarantine


def _accepted_keys(path: Path, column: str) -> np.ndarray:
    frame = pq.read_table(path, columns=[column]).to_pandas()
    return frame[column].dropna().unique()


def _sum_pii(parts: list[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    total: dict[str, dict[str, int]] = {}
    for part in parts:
        for column, kinds in part.items():
            into = total.setdefault(column, dict.fromkeys(kinds, 0))
            for kind, n in kinds.items():
                into[kind] = into.get(kind, 0) + n
    return total


def _stream_parts(folder: Path, out: Path, schema: pa.Schema) -> None:
    """Concatenate the partition files, in order, into one file; one part in memory."""
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for part in sorted(folder.glob("*.parquet")):
            writer.write_table(pq.read_table(part, schema=schema))
    shutil.rmtree(folder)


def validate_partitioned(
    tables: dict[str, TableManifest],
    contracts: dict[str, Any],
    scrub: dict[str, list[str]],
    when: dt.datetime,
    tmp: Path,
    partitions: Partitions,
) -> tuple[dict[str, Any], dict[str, dict[str, dict[str, int]]]]:
    """Validate every table partition by partition, writing `tmp/accepted/<table>.parquet`
    and `tmp/quarantine/<table>.parquet`; returns the per-table results (as
    `validate_tables` would) and the personal data counted per table and column."""
    from data_contracts.partitions import (
        concat_quarantine,
        finish_table,
        partitioned_result,
        whole_table_columns,
    )
    from data_contracts.pii import scrub_frame
    from data_contracts.validate import references, table_order
    from karpa.validation.quarantine import write_quarantine

    results: dict[str, Any] = {}
    pii_columns: dict[str, dict[str, dict[str, int]]] = {}
    for name in table_order(list(tables), contracts):
        manifest, contract = tables[name], contracts[name]
        started = time.monotonic()
        # Cross-table rules check against the referenced table's accepted keys only.
        known = {
            ref: _accepted_keys(tmp / "accepted" / f"{ref_table}.parquet", ref_column)
            for ref in references(contract)
            for ref_table, ref_column in [ref.split(".", 1)]
            if ref_table in results
        }
        parts = tmp / "parts" / name
        parts.mkdir(parents=True)
        columns = pq.read_schema(manifest.path).names
        metadata = pq.ParquetFile(manifest.path).metadata
        ranges = plan_file(metadata, partitions.rows, partitions.max_bytes)
        jobs = [
            PartitionJob(
                name, i, manifest.path, a, b, contract, when, tuple(scrub[name]), str(parts), known
            )
            for i, (a, b) in enumerate(ranges)
        ]
        checked = partitions.map(check_job, jobs)
        keys = pq.read_table(manifest.path, columns=whole_table_columns(contract, columns))
        keys = keys.to_pandas()
        for column in scrub[name]:
            if column in keys.columns:
                keys, _ = scrub_frame(keys, [column])
        verdict = finish_table(
            contract, [v for v, _ in checked], keys, columns, reference_time=when
        )
        del keys
        split = partitions.map(split_job, [replace(j, reasons=verdict.reasons) for j in jobs])
        _stream_parts(parts, tmp / "accepted" / f"{name}.parquet", TABLES[name])
        quarantine = concat_quarantine([q for _, q in split])
        write_quarantine(quarantine, tmp / "quarantine" / f"{name}.parquet")
        results[name] = partitioned_result(
            contract, verdict, quarantine, sum(n for n, _ in split), reference_time=when
        )
        counted = {c: dict(kinds) for c, kinds in manifest.pii.items()}
        for column, counts in _sum_pii([p for _, p in checked]).items():
            kinds = counted.setdefault(column, dict.fromkeys(counts, 0))
            for kind, n in counts.items():
                kinds[kind] = kinds.get(kind, 0) + n
        if counted:
            pii_columns[name] = counted
        free_cycles()  # the table's keys and verdicts
        log.info(
            "%s: %s rows in %d partitions validated in %.1f s",
            name,
            f"{verdict.rows_in:,}",
            len(jobs),
            time.monotonic() - started,
        )
    shutil.rmtree(tmp / "parts", ignore_errors=True)
    return {name: results[name] for name in tables}, pii_columns


def _has_nulls(file: pq.ParquetFile, column: str) -> bool:
    """Whether `column` of `file` holds a null: from the row groups' statistics where they
    count nulls, else by reading that column one row group at a time (never the whole
    column: at 10x the demo world a string column is hundreds of MB in memory). Only a
    flat column's statistics count its own nulls (a list column's count its elements')."""
    flat = [i for i, c in enumerate(file.schema) if c.path == column]
    for g in range(file.metadata.num_row_groups):
        stats = file.metadata.row_group(g).column(flat[0]).statistics if flat else None
        if stats is not None and stats.has_null_count:
            if stats.null_count > 0:
                return True
        elif file.read_row_group(g, columns=[column]).column(0).null_count > 0:
            return True
    return False


# What `profile_file` reads of a string or binary column at once (uncompressed Parquet
# bytes): a batch of texts or images, not the column.
PROFILE_BATCH_BYTES = 4 * 2**20


def _batch_rows(metadata: pq.FileMetaData, column: str) -> int:
    """Rows of `column` that hold about `PROFILE_BATCH_BYTES`, from the file's metadata."""
    index = metadata.schema.names.index(column) if column in metadata.schema.names else None
    if index is None or metadata.num_rows == 0:
        return 65_536
    size = sum(
        metadata.row_group(g).column(index).total_uncompressed_size
        for g in range(metadata.num_row_groups)
    )
    return max(1, min(65_536, int(PROFILE_BATCH_BYTES * metadata.num_rows // max(size, 1))))


def profile_file(path: Path, ingested: str | Path, table: str, contract: Any) -> dict[str, Any]:
    """`profile_table` of a written accepted table, reading one column at a time, and the
    string and binary columns (texts, ids, images) a batch at a time (`ColumnProfile`).

    The whole-table path profiles accepted rows cut out of the ingested frame, so a column
    keeps the pandas type it had there: integers with a null in any ingested row are
    floats. The same conversion is made here, so the profiles are equal.
    """
    from data_contracts.profile import BATCHED_TYPES, ColumnProfile, profile_columns, profile_table

    free_cycles()  # the last table's
    file = pq.ParquetFile(path)
    source = pq.ParquetFile(ingested)
    columns: dict[str, Any] = {}
    for name, prop in contract.properties.items():
        if name not in file.schema_arrow.names:
            continue
        if prop.type in BATCHED_TYPES:
            profile = ColumnProfile(prop)
            rows = _batch_rows(file.metadata, name)
            for batch in file.iter_batches(batch_size=rows, columns=[name]):
                profile.add(batch.column(0))
            columns[name] = profile.result()
            continue
        column = file.read(columns=[name]).column(0)
        had_nulls = _has_nulls(source, name)
        if had_nulls and column.null_count == 0:
            # Convert as if the null were there, then drop it.
            values = pa.chunked_array([*column.chunks, pa.nulls(1, column.type)]).to_pandas()
            values = values.iloc[:-1]
        else:
            values = column.to_pandas()
        frame = pd.DataFrame({name: values})
        columns.update(profile_table(frame, table, contract)["columns"])
    return profile_columns(columns, file.metadata.num_rows, table, contract)
