"""Ingestion tasks: one per canonical table (coarse, never per batch)."""

from __future__ import annotations

from prefect import get_run_logger, task

from karpa.config import RunConfig
from karpa.home import resolve_home
from karpa.ingest.stage import ingest_table
from karpa.manifests import TableManifest
from karpa.store import Store


@task(retries=1, retry_delay_seconds=2, task_run_name="ingest-{table}")
def ingest(cfg: RunConfig, table: str) -> TableManifest:
    """Read one table's sources into the store, or reuse the entry of identical input."""
    manifest = ingest_table(
        table, cfg.data.sources[table], cfg.data.root, cfg.ingest, Store(resolve_home().store),
        contracts=cfg.validate_.contracts, scrub_pii=cfg.validate_.scrub_pii,
    )
    state = "unchanged, skipped" if manifest.skipped else "ingested"
    get_run_logger().info(
        "%s: %s rows, %s (fingerprint %s)", table, f"{manifest.rows:,}", state,
        manifest.fingerprint,
    )
    return manifest
