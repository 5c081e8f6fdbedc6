"""The ingestion stage for one table: sources -> one canonical Parquet table in the store.

The entry's key is the fingerprint of the source bytes plus the ingestion config of that
table, so an unchanged source is not read again and a one-byte change re-ingests exactly
the table it belongs to. Batches stream from reader to writer: memory stays bounded by the
batch size, not the table size.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pyarrow.parquet as pq

from karpa.config import IngestConfig, SourceSpec
from karpa.fingerprint import combine, digest_json
from karpa.ingest.convert import to_canonical
from karpa.ingest.readers import read_csv, read_image_folder, read_jsonl, read_parquet
from karpa.ingest.sources import describe_files, list_files, resolve_url
from karpa.manifests import TableManifest
from karpa.schema import TABLES
from karpa.store import Store, write_manifest

log = logging.getLogger(__name__)

# Bump when ingestion's output for the same input changes, to invalidate old entries.
INGEST_VERSION = "1"
TABLE_FILE = "table.parquet"
READERS = {"csv": read_csv, "jsonl": read_jsonl, "parquet": read_parquet}


def ingest_table(
    table: str, spec: SourceSpec, root: str, cfg: IngestConfig, store: Store
) -> TableManifest:
    """Ingest one canonical table, or reuse the store entry made from the same input."""
    url = resolve_url(root, spec.path)
    files = describe_files(list_files(table, url, spec))
    # The batch size shapes row groups, not content, so it is left out of the key.
    key = combine(
        [INGEST_VERSION, table, digest_json(spec.model_dump(mode="json"))]
        + [f"{f.name}:{f.sha256}" for f in files]
    )
    sources = [f.url for f in files]
    if store.has("tables/" + table, key):
        manifest = store.manifest("tables/" + table, key)
        log.info("%s: unchanged (fingerprint %s), ingestion skipped", table, key)
        return TableManifest(**manifest, skipped=True)

    with store.writing("tables/" + table, key) as tmp:
        rows = _write(table, spec, files, cfg, tmp / TABLE_FILE)
        final = store.path("tables/" + table, key)
        manifest = {
            "table": table,
            "fingerprint": key,
            "path": str(final / TABLE_FILE),
            "rows": rows,
            "bytes": (tmp / TABLE_FILE).stat().st_size,
            "sources": sources,
        }
        write_manifest(tmp, {**manifest, "files": [f.__dict__ for f in files]})
    return TableManifest(**manifest)


def _write(
    table: str, spec: SourceSpec, files: list, cfg: IngestConfig, out: Path
) -> int:
    schema = TABLES[table]
    rows = 0
    started = last_log = time.monotonic()
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for batch, source, first_row in _batches(spec, files, cfg.batch_rows):
            canonical = to_canonical(batch, table, spec, source, first_row)
            writer.write_table(canonical, row_group_size=cfg.batch_rows)
            rows += canonical.num_rows
            now = time.monotonic()
            if now - last_log > 5:
                log.info("%s: %s rows (%.0f rows/s)", table, f"{rows:,}", rows / (now - started))
                last_log = now
    elapsed = max(time.monotonic() - started, 1e-9)
    log.info("%s: ingested %s rows in %.1f s (%.0f rows/s)", table, f"{rows:,}", elapsed,
             rows / elapsed)
    return rows


def _batches(spec: SourceSpec, files: list, batch_rows: int):
    if spec.format == "image_folder":
        for batch, first in read_image_folder([f.url for f in files], spec, batch_rows):
            yield batch, "", first
        return
    reader = READERS[spec.format]
    for f in files:
        for batch, first in reader(f.url, spec, batch_rows):
            yield batch, f.url, first
