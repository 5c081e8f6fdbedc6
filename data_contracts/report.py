"""Validation reports: a self-contained HTML page and a short markdown summary.

The HTML carries its own styles and needs no script or network: it is read where the
run happened, often without internet (GX's Data Docs pull CSS from CDNs and render
unstyled offline). Every value taken from data is escaped.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from typing import Any

import jinja2

from data_contracts.drift import DriftFinding
from data_contracts.outcomes import RuleOutcome, TableResult
from data_contracts.stop import percent, stop_sentence

Results = Mapping[str, TableResult] | Iterable[TableResult]
# table -> kind -> replaced, or table -> column -> kind -> replaced
PiiCounts = Mapping[str, Mapping[str, int] | Mapping[str, Mapping[str, int]]]


def _tables(results: Results) -> list[TableResult]:
    return list(results.values()) if isinstance(results, Mapping) else list(results)


def _findings(drift: Iterable[DriftFinding | Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    return [f.to_dict() if isinstance(f, DriftFinding) else dict(f) for f in drift or []]


@functools.cache
def _environment() -> jinja2.Environment:
    # Our own templates folder: data_contracts imports nothing of karpa's, its pages included.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("data_contracts"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _rule_row(o: RuleOutcome) -> dict[str, Any]:
    """One rule's row, numbers formatted; the template escapes every value."""
    row_level = o.level == "row"
    return {
        "rule": o.rule,
        "column": o.column,
        "kind": o.kind,
        "severity": o.severity,
        "engine": "GX" if o.engine == "great_expectations" else "karpa",
        "status": o.status,
        "badge": "warn" if o.status == "failed" and o.severity == "warn" else o.status,
        "failed": f"{o.failed:,}" if row_level else "",
        "share": percent(o.share) if row_level and o.rows else "",
        "expected": o.expected,
        "observed": o.observed or "",
        "description": o.description,
        "examples": list(o.examples or ()),
    }


def _drift_row(f: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "column": f["column"],
        "statistic": f["statistic"],
        "value": f"{f['value']:.3f}",
        "threshold": f"{f['threshold']:g}",
        "drifted": bool(f["drifted"]),
    }


def _pii_rows(counts: Mapping[str, Any] | None) -> list[tuple[str, str, int]]:
    """(column, kind, replaced) for counts by kind, or by column and then kind."""
    rows = []
    for key, value in (counts or {}).items():
        if isinstance(value, Mapping):
            rows += [(key, kind, n) for kind, n in value.items() if n]
        elif value:
            rows.append(("", key, value))
    return rows


def _table_view(
    r: TableResult, pii: Mapping[str, Any] | None, findings: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "name": r.table,
        "rows_in": f"{r.rows_in:,}",
        "accepted": f"{r.rows_accepted:,}",
        "quarantined": f"{r.rows_quarantined:,}",
        "share": percent(r.quarantine_share),
        "max_share": percent(r.thresholds.table),
        "contract": f"{r.contract_version} ({r.contract_fingerprint[:12]})",
        "rules": [_rule_row(o) for o in r.rules],
        "table_rules": [_rule_row(o) for o in r.table_rules],
        "pii_scrubbed": bool(pii),
        "pii": [(column, kind, f"{n:,}") for column, kind, n in _pii_rows(pii)],
        "drift": [_drift_row(f) for f in findings if f["table"] == r.table],
    }


def render_validation_report(
    results: Results,
    pii_counts: PiiCounts | None = None,
    drift: Iterable[DriftFinding | Mapping[str, Any]] | None = None,
    *,
    title: str = "karpa data validation",
    quarantine_paths: Mapping[str, str] | None = None,
) -> str:
    """A self-contained HTML page: per table and per rule, outcome, counts, examples, PII, drift."""
    tables = _tables(results)
    findings = _findings(drift)
    when = tables[0].reference_time if tables else dt.datetime.now(dt.UTC)
    return (
        _environment()
        .get_template("validation_report.html.j2")
        .render(
            title=title,
            reference_time=when.isoformat(),
            stop=stop_sentence(tables, quarantine_paths),
            tables=[_table_view(r, (pii_counts or {}).get(r.table), findings) for r in tables],
        )
    )


def render_markdown_summary(
    results: Results,
    pii_counts: PiiCounts | None = None,
    drift: Iterable[DriftFinding | Mapping[str, Any]] | None = None,
    *,
    quarantine_paths: Mapping[str, str] | None = None,
) -> str:
    """A few lines of markdown (for a Prefect artifact): verdict, counts, PII, drift."""
    tables = _tables(results)
    sentence = stop_sentence(tables, quarantine_paths)
    lines = [
        f"**Validation stops the run:** {sentence}" if sentence else "**Validation passed.**",
        "",
        "| table | rows in | accepted | quarantined | failing rules |",
        "|---|---:|---:|---:|---|",
    ]
    for r in tables:
        failing = [o for o in (*r.rules, *r.table_rules) if o.status in ("failed", "error")]
        names = ", ".join(f"{o.rule} ({o.severity})" for o in failing) or "—"
        lines.append(
            f"| {r.table} | {r.rows_in:,} | {r.rows_accepted:,} | "
            f"{r.rows_quarantined:,} ({percent(r.quarantine_share)}) | {names} |"
        )
    scrubbed = [
        f"{table}: "
        + ", ".join(
            f"{n:,} {kind}" + (f" in {column}" if column else "")
            for column, kind, n in _pii_rows(counts)
        )
        for table, counts in (pii_counts or {}).items()
        if _pii_rows(counts)
    ]
    if scrubbed:
        lines += ["", "Personal data scrubbed — " + "; ".join(scrubbed) + "."]
    findings = _findings(drift)
    drifted = [f for f in findings if f["drifted"]]
    if findings:
        detail = "; ".join(
            f"{f['table']}.{f['column']} {f['statistic']} {f['value']:.3f}" for f in drifted
        )
        lines += ["", f"Drift: {len(drifted)} of {len(findings)} statistics above threshold"]
        lines[-1] += f" ({detail})." if drifted else "."
    return "\n".join(lines)
