"""Ingestion tasks: one per canonical table (coarse, never per batch)."""

from __future__ import annotations

from prefect import get_run_logger, task

from karpa.config import IngestConfig, SourceSpec
from karpa.home import Home
from karpa.ingest.stage import ingest_table
from karpa.manifests import TableManifest
from karpa.store import Store
from tasks.retry import transient_only


@task(
    retries=1,
    retry_delay_seconds=2,
    retry_condition_fn=transient_only,
    task_run_name="ingest-{table}",
)
def ingest(
    home: Home,
    table: str,
    source: SourceSpec,
    root: str,
    cfg: IngestConfig,
    contracts: str | None,
    scrub_pii: bool,
) -> TableManifest:
    """Read one table's sources into the store, or reuse the entry of identical input;
    personal data is scrubbed from the free-text columns its contract names."""
    manifest = ingest_table(
        table, source, root, cfg, Store(home.store), contracts=contracts, scrub_pii=scrub_pii
    )
    state = "unchanged, skipped" if manifest.skipped else "ingested"
    get_run_logger().info(
        "%s: %s rows, %s (fingerprint %s)",
        table,
        f"{manifest.rows:,}",
        state,
        manifest.fingerprint,
    )
    return manifest
