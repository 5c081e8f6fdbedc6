"""The ingestion stage for one table: sources -> one canonical Parquet table in the store.

The entry's key is the fingerprint of the source bytes plus the ingestion config of that
table, so an unchanged source is not read again and a one-byte change re-ingests exactly
the table it belongs to. Batches stream from reader to writer: memory stays bounded by the
batch size, not the table size.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from karpa.allocators import return_freed_memory
from karpa.config import IngestConfig, SourceSpec
from karpa.confine import check_files_confined
from karpa.errors import SourceError
from karpa.fingerprint import combine, digest_json
from karpa.ingest.convert import to_canonical
from karpa.ingest.formats import FORMATS, check_format
from karpa.ingest.readers import read_csv, read_image_folder, read_jsonl, read_parquet
from karpa.ingest.rows import ReadContext
from karpa.ingest.scrub import SCRUB_VERSION, scrub_columns, scrub_table
from karpa.ingest.sources import SourceFile, describe_files, list_files, resolve_url
from karpa.manifests import TableManifest
from karpa.schema import TABLES
from karpa.store import Store, write_manifest

log = logging.getLogger(__name__)

# Bump when ingestion's output for the same input changes, to invalidate old entries.
INGEST_VERSION = "2"  # 2: JSONL rows are line numbers; lists only in list columns
TABLE_FILE = "table.parquet"
READERS = {"csv": read_csv, "jsonl": read_jsonl, "parquet": read_parquet}


def ingest_table(
    table: str,
    spec: SourceSpec,
    root: str,
    cfg: IngestConfig,
    store: Store,
    *,
    contracts: str | None = None,
    scrub_pii: bool = True,
) -> TableManifest:
    """Ingest one canonical table, or reuse the store entry made from the same input.

    Personal data is scrubbed from the free-text columns of the table's contract (found in
    `contracts`, default the packaged ones) before anything is written, unless `scrub_pii`
    is off.
    """
    return_freed_memory()  # here too: a Dask worker ingests in its own process
    url = resolve_url(root, spec.path)
    if spec.format in FORMATS:
        check_format(table, spec)
        _refuse_folder(url, f"data.sources.{table}.path", spec)
    elif spec.with_files:
        raise SourceError(
            f"data.sources.{table}.with_files: format {spec.format!r} reads one file at a "
            f"time; with_files is for the multi-file formats ({', '.join(FORMATS)})"
        )
    found = list_files(table, url, spec)
    check_files_confined(table, root, found)
    files = describe_files(found)
    companions = _companions(table, spec, root)
    scrubbed = scrub_columns(table, contracts) if scrub_pii else []
    # The batch size shapes row groups, not content, so it is left out of the key; so is
    # the split hint, which align reads and ingestion does not.
    key = combine(
        [
            INGEST_VERSION,
            table,
            digest_json(spec.model_dump(mode="json", exclude={"split_from_id"})),
            f"scrub{SCRUB_VERSION}:{','.join(scrubbed)}",
        ]
        + [f"{f.name}:{f.sha256}" for f in files]
        + [f"{role}={f.name}:{f.sha256}" for role, f in sorted(companions.items())]
    )
    sources = [f.url for f in files]
    if store.has("tables/" + table, key):
        manifest = store.manifest("tables/" + table, key)
        log.info("%s: unchanged (fingerprint %s), ingestion skipped", table, key)
        return TableManifest(**manifest, skipped=True)

    with store.writing("tables/" + table, key) as tmp:
        rows, pii = _write(table, spec, files, companions, cfg, tmp / TABLE_FILE, scrubbed)
        final = store.path("tables/" + table, key)
        manifest = {
            "table": table,
            "fingerprint": key,
            "path": str(final / TABLE_FILE),
            "rows": rows,
            "bytes": (tmp / TABLE_FILE).stat().st_size,
            "sources": sources,
            "pii": pii,
        }
        write_manifest(
            tmp,
            {
                **manifest,
                "files": [f.__dict__ for f in files],
                "with_files": {r: f.__dict__ for r, f in companions.items()},
            },
        )
    return TableManifest(**manifest)


def _refuse_folder(url: str, key: str, spec: SourceSpec) -> None:
    # Dataset layouts name their files (a folder holds other files of the same dataset).
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(url)
    if not any(ch in path for ch in "*?[") and fs.isdir(path):
        raise SourceError(
            f"{key}: format {spec.format!r} reads named files, and {url!r} is a folder; "
            "give the file (or a glob)"
        )


def _companions(table: str, spec: SourceSpec, root: str) -> dict[str, SourceFile]:
    """The extra files of a multi-file format, each resolved to exactly one file."""
    out: dict[str, SourceFile] = {}
    for role, path in spec.with_files.items():
        url = resolve_url(root, path)
        _refuse_folder(url, f"data.sources.{table}.with_files.{role}", spec)
        found = list_files(table, url, spec)
        check_files_confined(table, root, found)
        if len(found) != 1:
            raise SourceError(
                f"data.sources.{table}.with_files.{role}: {path!r} matches {len(found)} files; "
                "name exactly one"
            )
        out[role] = describe_files(found)[0]
    return out


def _write(
    table: str,
    spec: SourceSpec,
    files: list,
    companions: dict[str, SourceFile],
    cfg: IngestConfig,
    out: Path,
    scrubbed: list[str],
) -> tuple[int, dict[str, dict[str, int]]]:
    schema = TABLES[table]
    rows = 0
    pii: dict[str, dict[str, int]] = {}
    started = last_log = time.monotonic()
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for batch, source, first_row in _batches(table, spec, files, companions, cfg.batch_rows):
            canonical = to_canonical(batch, table, spec, source, first_row)
            canonical = scrub_table(canonical, scrubbed, pii)
            writer.write_table(canonical, row_group_size=cfg.batch_rows)
            rows += canonical.num_rows
            now = time.monotonic()
            if now - last_log > 5:
                log.info("%s: %s rows (%.0f rows/s)", table, f"{rows:,}", rows / (now - started))
                last_log = now
    elapsed = max(time.monotonic() - started, 1e-9)
    log.info(
        "%s: ingested %s rows in %.1f s (%.0f rows/s)", table, f"{rows:,}", elapsed, rows / elapsed
    )
    if any(any(kinds.values()) for kinds in pii.values()):
        log.info(
            "%s: scrubbed personal data: %s",
            table,
            "; ".join(
                f"{column} " + ", ".join(f"{k}={n}" for k, n in kinds.items() if n)
                for column, kinds in pii.items()
                if any(kinds.values())
            ),
        )
    return rows, pii


def _list_columns(table: str, spec: SourceSpec) -> frozenset[str]:
    """The source columns whose canonical type is a list."""
    return frozenset(
        spec.columns.get(f.name, f.name) for f in TABLES[table] if pa.types.is_list(f.type)
    )


def _batches(
    table: str, spec: SourceSpec, files: list, companions: dict[str, SourceFile], batch_rows: int
):
    if spec.format == "image_folder":
        for batch, first in read_image_folder([f.url for f in files], spec, batch_rows):
            yield batch, "", first
        return
    if spec.format in FORMATS:
        ctx = ReadContext(table, {role: f.url for role, f in companions.items()})
        for f in files:
            for batch, first in FORMATS[spec.format].reader(f.url, spec, batch_rows, ctx):
                yield batch, f.url, first
        return
    reader = READERS[spec.format]
    if spec.format == "jsonl":
        reader = partial(read_jsonl, list_columns=_list_columns(table, spec))
    for f in files:
        for batch, first in reader(f.url, spec, batch_rows):
            yield batch, f.url, first
