"""Validation reports: a self-contained HTML page and a short markdown summary.

The HTML carries its own styles and needs no script or network: it is read where the
run happened, often without internet (GX's Data Docs pull CSS from CDNs and render
unstyled offline). Every value taken from data is escaped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from data_contracts.drift import DriftFinding
from data_contracts.outcomes import RuleOutcome, TableResult
from data_contracts.stop import percent, stop_sentence

Results = Mapping[str, TableResult] | Iterable[TableResult]
# table -> kind -> replaced, or table -> column -> kind -> replaced
PiiCounts = Mapping[str, Mapping[str, int] | Mapping[str, Mapping[str, int]]]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#1d2127}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d4da}
table{border-collapse:collapse;margin:.5rem 0 1rem;width:100%}
th,td{border:1px solid #d0d4da;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f4f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
code,td.v{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.banner{padding:.7rem 1rem;border-radius:4px;margin:1rem 0}
.stop{background:#fde8e8;border:1px solid #e0a0a0}.go{background:#e6f4ea;border:1px solid #9ccfa9}
.s{display:inline-block;padding:0 .4rem;border-radius:3px;font-size:12px}
.passed{background:#e6f4ea}.failed{background:#fde8e8}.warn{background:#fff4d6}
.skipped,.ok{background:#eef0f3}.error{background:#f7c6c6}
details{margin:.3rem 0}summary{cursor:pointer}.muted{color:#69707a}
"""


def _tables(results: Results) -> list[TableResult]:
    return list(results.values()) if isinstance(results, Mapping) else list(results)


def _findings(drift: Iterable[DriftFinding | Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    return [f.to_dict() if isinstance(f, DriftFinding) else dict(f) for f in drift or []]


def _badge(outcome: RuleOutcome) -> str:
    label = outcome.status
    css = "warn" if label == "failed" and outcome.severity == "warn" else label
    return f'<span class="s {css}">{escape(label)}</span>'


def _cell(value: Any, css: str = "") -> str:
    attr = f' class="{css}"' if css else ""
    text = "" if value is None else str(value)
    return f"<td{attr}>{escape(text)}</td>"


def _examples(outcome: RuleOutcome) -> str:
    if not outcome.examples:
        return ""
    rows = "".join(
        "<tr>"
        + _cell(example.get("source"))
        + _cell(example.get("row"), "n")
        + _cell(example.get("value"), "v")
        + _cell(example.get("detail"))
        + "</tr>"
        for example in outcome.examples
    )
    return (
        f"<details><summary>{len(outcome.examples)} example rows of "
        f"{escape(outcome.rule)}</summary><table><tr><th>source</th><th>row</th>"
        f"<th>value</th><th>detail</th></tr>{rows}</table></details>"
    )


def _rules_table(outcomes: list[RuleOutcome]) -> str:
    head = (
        "<tr><th>rule</th><th>column</th><th>kind</th><th>severity</th><th>engine</th>"
        "<th>outcome</th><th>failed rows</th><th>share</th><th>demands</th>"
        "<th>observed / description</th></tr>"
    )
    body = []
    for o in outcomes:
        note = escape(o.observed or "") + (" — " if o.observed else "") + escape(o.description)
        body.append(
            "<tr>"
            + _cell(o.rule)
            + _cell(o.column)
            + _cell(o.kind)
            + _cell(o.severity)
            + _cell("GX" if o.engine == "great_expectations" else "karpa")
            + f"<td>{_badge(o)}</td>"
            + _cell(f"{o.failed:,}" if o.level == "row" else "", "n")
            + _cell(percent(o.share) if o.level == "row" and o.rows else "", "n")
            + _cell(o.expected)
            + f"<td>{note}{_examples(o)}</td></tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def _pii_rows(counts: Mapping[str, Any] | None) -> list[tuple[str, str, int]]:
    """(column, kind, replaced) for counts by kind, or by column and then kind."""
    rows = []
    for key, value in (counts or {}).items():
        if isinstance(value, Mapping):
            rows += [(key, kind, n) for kind, n in value.items() if n]
        elif value:
            rows.append(("", key, value))
    return rows


def _pii_section(counts: Mapping[str, Any] | None) -> str:
    if not counts:
        return '<p class="muted">No text columns scrubbed for personal data.</p>'
    rows = _pii_rows(counts)
    if not rows:
        return '<p class="muted">No personal data found in the scrubbed text columns.</p>'
    cells = "".join(
        f"<tr>{_cell(c)}{_cell(k)}{_cell(f'{n:,}', 'n')}</tr>" for c, k, n in rows
    )
    return (
        "<h3>Personal data scrubbed</h3>"
        f"<table><tr><th>column</th><th>kind</th><th>replaced</th></tr>{cells}</table>"
    )


def _drift_section(findings: list[dict[str, Any]]) -> str:
    if not findings:
        return '<p class="muted">No previous profile to compare with.</p>'
    rows = "".join(
        "<tr>"
        + _cell(f["column"])
        + _cell(f["statistic"])
        + _cell(f"{f['value']:.3f}", "n")
        + _cell(f"{f['threshold']:g}", "n")
        + f'<td><span class="s {"warn" if f["drifted"] else "ok"}">'
        + ("drift" if f["drifted"] else "stable")
        + "</span></td></tr>"
        for f in findings
    )
    return (
        "<h3>Drift against the previous run</h3><table><tr><th>column</th><th>statistic</th>"
        f"<th>value</th><th>warn above</th><th>verdict</th></tr>{rows}</table>"
    )


def _overview(tables: list[TableResult]) -> str:
    rows = "".join(
        "<tr>"
        + _cell(r.table)
        + _cell(f"{r.rows_in:,}", "n")
        + _cell(f"{r.rows_accepted:,}", "n")
        + _cell(f"{r.rows_quarantined:,}", "n")
        + _cell(percent(r.quarantine_share), "n")
        + _cell(percent(r.thresholds.table), "n")
        + _cell(f"{r.contract_version} ({r.contract_fingerprint[:12]})")
        + "</tr>"
        for r in tables
    )
    return (
        "<table><tr><th>table</th><th>rows in</th><th>accepted</th><th>quarantined</th>"
        f"<th>share</th><th>max share</th><th>contract</th></tr>{rows}</table>"
    )


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
    sentence = stop_sentence(tables, quarantine_paths)
    banner = (
        f'<div class="banner stop"><strong>Run stops:</strong> {escape(sentence)}</div>'
        if sentence
        else '<div class="banner go">Every table is within its contract thresholds.</div>'
    )
    when = tables[0].reference_time if tables else dt.datetime.now(dt.UTC)
    sections = []
    for r in tables:
        sections.append(
            f"<h2>{escape(r.table)}</h2>"
            f"<p>{r.rows_in:,} rows in, {r.rows_accepted:,} accepted, "
            f"{r.rows_quarantined:,} quarantined ({percent(r.quarantine_share)}).</p>"
            f"<h3>Row rules</h3>{_rules_table(r.rules)}"
            f"<h3>Table rules</h3>{_rules_table(r.table_rules)}"
            + _pii_section((pii_counts or {}).get(r.table))
            + _drift_section([f for f in findings if f["table"] == r.table])
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class='muted'>Reference time {escape(when.isoformat())}</p>"
        f"{banner}{_overview(tables)}{''.join(sections)}</body></html>"
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
        f"{table}: " + ", ".join(
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
