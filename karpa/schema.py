"""Canonical tables: the one shape every source is ingested into (DESIGN.md).

Each table also carries two provenance columns so that a quarantined row can always be
traced back to where it came from: `_source` (the file it was read from) and `_row`
(its 1-based data row or line number in that file). A third, `_ingest_error`, is null
unless a value in the row could not be parsed into its canonical type (for example a
timestamp column holding "yesterday"); ingestion keeps such rows, with the value nulled and
the reason written here, so that validation quarantines them instead of losing them.
"""

from __future__ import annotations

import pyarrow as pa

PROVENANCE = [
    pa.field("_source", pa.string()),
    pa.field("_row", pa.int64()),
    pa.field("_ingest_error", pa.string()),
]

TS = pa.timestamp("us", tz="UTC")

TABLES: dict[str, pa.Schema] = {
    "items": pa.schema(
        [
            pa.field("item_id", pa.string()),
            pa.field("title", pa.string()),
            pa.field("description", pa.string()),
            pa.field("category", pa.string()),
            # Free-form key/value attributes as a JSON object string: sources differ in
            # which attributes they have, and a JSON string survives every file format.
            pa.field("attributes", pa.string()),
            pa.field("price", pa.float64()),
            pa.field("created_at", TS),
            *PROVENANCE,
        ]
    ),
    "images": pa.schema(
        [
            pa.field("image_id", pa.string()),
            pa.field("item_id", pa.string()),
            pa.field("bytes", pa.binary()),
            pa.field("width", pa.int32()),
            pa.field("height", pa.int32()),
            *PROVENANCE,
        ]
    ),
    "events": pa.schema(
        [
            pa.field("user_id", pa.string()),
            pa.field("item_id", pa.string()),
            pa.field("event_type", pa.string()),
            pa.field("value", pa.float64()),
            pa.field("ts", TS),
            pa.field("session_id", pa.string()),
            *PROVENANCE,
        ]
    ),
    "messages": pa.schema(
        [
            pa.field("message_id", pa.string()),
            pa.field("user_id", pa.string()),
            pa.field("text", pa.string()),
            pa.field("ts", TS),
            pa.field("intent", pa.string()),
            *PROVENANCE,
        ]
    ),
    "news": pa.schema(
        [
            pa.field("news_id", pa.string()),
            pa.field("ts", TS),
            pa.field("headline", pa.string()),
            pa.field("body", pa.string()),
            pa.field("entities", pa.list_(pa.string())),
            pa.field("sentiment", pa.string()),
            *PROVENANCE,
        ]
    ),
}

TABLE_NAMES: tuple[str, ...] = tuple(TABLES)

# Columns a source must provide (directly, by mapping, as a constant or from the row
# number). Without them a row means nothing, so their absence stops ingestion at once;
# every other column may be absent and is then null.
REQUIRED: dict[str, tuple[str, ...]] = {
    "items": ("item_id", "title"),
    "images": ("image_id", "item_id", "bytes"),
    "events": ("user_id", "item_id", "event_type", "ts"),
    "messages": ("message_id", "text"),
    "news": ("news_id", "headline"),
}


def canonical_columns(table: str) -> list[str]:
    """Data columns of a canonical table, without the provenance columns."""
    return [f.name for f in TABLES[table] if not f.name.startswith("_")]
