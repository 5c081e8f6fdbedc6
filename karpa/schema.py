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

from data_contracts.columns import CANONICAL_TABLES, TIMESTAMP, arrow_fields

PROVENANCE = [
    pa.field("_source", pa.string()),
    pa.field("_row", pa.int64()),
    pa.field("_ingest_error", pa.string()),
]

TS = TIMESTAMP

# The columns and their types are the contracts' (data_contracts/<table>.yaml, the one place
# they are declared), followed by the provenance columns.
TABLES: dict[str, pa.Schema] = {
    table: pa.schema([*arrow_fields(table), *PROVENANCE]) for table in CANONICAL_TABLES
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
