"""The validate stage: scrub personal data, apply the contracts, split accepted from
quarantined rows, profile, and compare with the previous accepted profile.

Keyed by the ingested tables' fingerprints, the contracts' fingerprints, the validate
config and the reference day (freshness and `now` bounds depend on it), so a re-run on the
same day with the same data is skipped, and its verdict (including a stop) is the same.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from karpa.allocators import new_objects_only, return_freed_memory
from karpa.config import ValidateConfig
from karpa.fingerprint import combine, digest_json
from karpa.manifests import TableManifest, ValidateManifest
from karpa.store import Store, write_manifest
from karpa.validation.partitioned import (
    SERIAL_PARTITION_BYTES,
    SERIAL_PARTITION_ROWS,
    Partitions,
    profile_file,
    validate_partitioned,
)

log = logging.getLogger(__name__)

VALIDATE_VERSION = "1"
LATEST = "latest-accepted.json"  # which entry's profiles the next run's drift compares to


def reference_time(cfg: ValidateConfig, now: dt.datetime | None = None) -> dt.datetime:
    """The configured time (naive means UTC), else `now`, else the current time."""
    if cfg.reference_time:
        stamp = pd.Timestamp(cfg.reference_time)
        return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).to_pydatetime()
    return now or dt.datetime.now(dt.UTC)


def _previous_profiles(store: Store) -> dict[str, Any]:
    pointer = store.root / "validated" / LATEST
    if not pointer.is_file():
        return {}
    key = json.loads(pointer.read_text())["fingerprint"]
    path = store.path("validated", key) / "profiles.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def validate(
    tables: dict[str, TableManifest],
    cfg: ValidateConfig,
    store: Store,
    now: dt.datetime | None = None,
    partitions: Partitions | None = None,
) -> ValidateManifest:
    """Validate every ingested table. When the run must stop, the manifest's `stop` holds
    the one sentence saying why (pointing at the report and the quarantine, which are
    written first); see `raise_if_stopped`.

    Each table is validated a row range at a time, so memory is bounded by a partition,
    not a table: `partitions` says how many rows (and bytes) and where they run (here,
    or on a cluster); without it, `SERIAL_PARTITION_ROWS` and `SERIAL_PARTITION_BYTES`
    at a time in this process. The result,
    and the entry's key, do not depend on either."""
    from data_contracts import load_contracts

    return_freed_memory()
    when = reference_time(cfg, now)
    contracts = load_contracts(Path(cfg.contracts) if cfg.contracts else None, tables=list(tables))
    for key, values in cfg.labels.items():  # the run's own label sets
        table, column = key.split(".", 1)
        if table in contracts:
            contracts[table] = contracts[table].with_allowed(column, values)
    key = combine(
        [VALIDATE_VERSION, when.date().isoformat(), digest_json(cfg.model_dump(mode="json"))]
        + [f"{t}:{tables[t].fingerprint}:{contracts[t].fingerprint}" for t in sorted(tables)]
    )
    if store.has("validated", key):
        manifest = store.manifest("validated", key)
        log.info("validate: inputs, contracts and day unchanged (%s), skipped", key)
        return _checked(ValidateManifest(**manifest, skipped=True))

    with store.writing("validated", key) as tmp, new_objects_only():
        manifest = _run(tables, contracts, cfg, when, store, tmp, key, partitions)
        write_manifest(tmp, manifest)
    (store.root / "validated" / LATEST).write_text(json.dumps({"fingerprint": key}))
    return _checked(ValidateManifest(**manifest))


def _run(tables, contracts, cfg, when, store, tmp: Path, key: str, partitions) -> dict[str, Any]:
    from data_contracts import (
        compute_drift,
        render_markdown_summary,
        render_validation_report,
        stop_sentence,
    )

    # Great Expectations sets one of its own loggers to INFO on import; keep runs quiet.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    final = store.path("validated", key)
    (tmp / "accepted").mkdir()
    (tmp / "quarantine").mkdir()
    scrub = {t: contracts[t].scrub_columns() if cfg.scrub_pii else [] for t in tables}
    results, pii_columns = validate_partitioned(
        tables,
        contracts,
        scrub,
        when,
        tmp,
        partitions or Partitions(SERIAL_PARTITION_ROWS, max_bytes=SERIAL_PARTITION_BYTES),
    )
    pii = {
        table: {
            kind: sum(kinds.get(kind, 0) for kinds in by_column.values())
            for kind in next(iter(by_column.values()))
        }
        for table, by_column in pii_columns.items()
    }
    quarantine_paths = {t: str(final / "quarantine" / f"{t}.parquet") for t in results}
    previous = _previous_profiles(store)
    profiles: dict[str, Any] = {}
    findings = []
    accepted: dict[str, dict[str, Any]] = {}
    for name, result in results.items():
        written = tmp / "accepted" / f"{name}.parquet"
        accepted[name] = TableManifest(
            table=name,
            fingerprint=combine([key, name]),
            path=str(final / "accepted" / f"{name}.parquet"),
            rows=result.rows_accepted,
            bytes=written.stat().st_size,
        ).model_dump()
        profiles[name] = profile_file(written, tables[name].path, name, contracts[name])
        if name in previous:
            findings.extend(compute_drift(previous[name], profiles[name]))
    (tmp / "profiles.json").write_text(json.dumps(profiles, indent=2, default=str))
    (tmp / "drift.json").write_text(
        json.dumps(
            [f.to_dict() if hasattr(f, "to_dict") else f.__dict__ for f in findings],
            indent=2,
            default=str,
        )
    )
    (tmp / "results.json").write_text(
        json.dumps({t: r.summary() for t, r in results.items()}, indent=2, default=str)
    )
    report = render_validation_report(
        results, pii_columns, findings, quarantine_paths=quarantine_paths
    )
    (tmp / "report.html").write_text(report)
    summary = render_markdown_summary(
        results, pii_columns, findings, quarantine_paths=quarantine_paths
    )
    warnings = [
        f"{o.table}: {o.rule} ({o.description})"
        for r in results.values()
        for o in [*r.rules, *r.table_rules]
        if o.severity == "warn" and o.status == "failed"
    ]
    return {
        "fingerprint": key,
        "path": str(final),
        "accepted": accepted,
        "counts": {
            t: {
                "rows_in": r.rows_in,
                "rows_accepted": r.rows_accepted,
                "rows_quarantined": r.rows_quarantined,
            }
            for t, r in results.items()
        },
        "pii": pii,
        "pii_columns": pii_columns,
        "warnings": warnings,
        "drifted": [f"{f.table}.{f.column}.{f.statistic}" for f in findings if f.drifted],
        "report": str(final / "report.html"),
        "summary_markdown": summary,
        "stop": _with_report(stop_sentence(results, quarantine_paths), final / "report.html"),
    }


def _with_report(sentence: str | None, report: Path) -> str | None:
    return f"{sentence} (report: {report})" if sentence else None


def _checked(manifest: ValidateManifest) -> ValidateManifest:
    for table, counts in manifest.counts.items():
        # Nothing is lost: every row read is either accepted or quarantined.
        if counts["rows_in"] != counts["rows_accepted"] + counts["rows_quarantined"]:
            raise RuntimeError(f"validate: {table} rows do not add up: {counts}")
    return manifest
