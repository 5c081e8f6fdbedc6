"""The accepted events, one batch of users at a time.

Alignment needs each user's events together (sequences, sessions, a message's recent
items) but never every user's at once. So the events file is split, in one pass, into
files that each hold a range of consecutive user ids (sorted) with about `batch_events`
events — a user is never split — and alignment reads one such file at a time. The
batches come in user-id order and keep the file's row order inside, so views built
batch by batch and appended are the ones the whole table gives, row for row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# Events per batch: what alignment holds of the events table at once, at any scale (the
# demo world has about 100,000 at scale 1, so there it is still one batch).
BATCH_EVENTS = 100_000


def events_per_user(path: str | Path, read_rows: int = BATCH_EVENTS) -> dict[str, int]:
    """Events per user id (null ids left out), reading only the user ids, a batch at a time."""
    counts: dict[str, int] = {}
    for batch in pq.ParquetFile(path).iter_batches(batch_size=read_rows, columns=["user_id"]):
        found = pc.value_counts(batch.column(0))
        users = found.field("values").to_pylist()
        for user, n in zip(users, found.field("counts").to_pylist(), strict=True):
            if user is not None:
                counts[user] = counts.get(user, 0) + n
    return counts


def first_users(counts: dict[str, int], batch_events: int) -> list[str]:
    """The first user id of each batch: users in sorted order, a new batch started when
    the next user would take the current one past `batch_events` events."""
    firsts: list[str] = []
    size = 0
    for user in sorted(counts):
        if not firsts or size + counts[user] > batch_events:
            firsts.append(user)
            size = 0
        size += counts[user]
    return firsts


def split_by_user(
    path: str | Path, columns: list[str], folder: Path, batch_events: int = BATCH_EVENTS
) -> list[Path]:
    """Write `columns` of the events at `path` into one file per batch of users, in one
    pass; returns the files in user-id order. Events without a user id go with the first
    batch (no user's sequence takes them; they still count where every event counts)."""
    firsts = np.array(first_users(events_per_user(path), batch_events) or [""], dtype=object)
    folder.mkdir(parents=True, exist_ok=True)
    file = pq.ParquetFile(path)
    # The file's own metadata too, so a batch converts to pandas as the file would.
    whole = file.schema_arrow
    schema = pa.schema([whole.field(c) for c in columns], metadata=whole.metadata)
    files = [folder / f"{i:06d}.parquet" for i in range(len(firsts))]
    writers = [pq.ParquetWriter(f, schema) for f in files]
    try:
        for batch in file.iter_batches(batch_size=batch_events, columns=columns):
            users = batch.column(columns.index("user_id"))
            ids = users.fill_null(firsts[0]).to_numpy(zero_copy_only=False)
            target = np.searchsorted(firsts, ids, side="right") - 1
            # Rows grouped by target batch, in file order inside each: one stable sort,
            # then a slice per target (not a filter per target over every row).
            order = np.argsort(target, kind="stable")
            table = pa.Table.from_batches([batch], schema=schema).take(order)
            bounds = np.searchsorted(target[order], np.arange(len(files) + 1))
            for i in np.flatnonzero(np.diff(bounds)):
                writers[i].write_table(table.slice(bounds[i], bounds[i + 1] - bounds[i]))
    finally:
        for writer in writers:
            writer.close()
    return files


def event_batches(
    path: str | Path | None, columns: list[str], folder: Path, batch_events: int = BATCH_EVENTS
) -> Iterator[pd.DataFrame]:
    """The events (only `columns`) as DataFrames of whole users, in user-id order; each
    batch file is removed once read. No events file: one empty batch of that shape."""
    if path is None:
        from karpa.schema import TABLES

        yield TABLES["events"].empty_table().select(columns).to_pandas()
        return
    for part in split_by_user(path, columns, folder, batch_events):
        frame = pq.read_table(part).to_pandas()
        part.unlink()
        yield frame
