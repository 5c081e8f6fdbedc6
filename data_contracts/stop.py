"""The one sentence that tells the on-call person why validation stops a run.

Validation stops a run when a rule could not be evaluated, when an `error` table-level
rule fails (a missing column, too few rows, stale data), or when quarantine grows past
the contract's `max_quarantine_share` — for one rule or for the table as a whole. Only the
most important problem is named; the report lists the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from data_contracts.outcomes import RuleOutcome, TableResult


def percent(share: float) -> str:
    """`0.125` -> `12.5%`, `0.05` -> `5%`, `0.0005` -> `0.05%`."""
    return f"{share * 100:.3g}%"


def _rows(count: int) -> str:
    return f"{count:,} row{'' if count == 1 else 's'}"


def _on(outcome: RuleOutcome) -> str:
    return f" on column {outcome.column}" if outcome.column else ""


def _first_place(outcome: RuleOutcome) -> str:
    if not outcome.examples:
        return ""
    first = outcome.examples[0]
    where = f"row {first['row']}"
    return f", first at {first['source']} {where}" if first.get("source") else f", first at {where}"


def _where_quarantined(table: str, paths: Mapping[str, str]) -> str:
    if table in paths:
        return f"quarantined rows are in {paths[table]}"
    return f"quarantined rows are in the {table} quarantine output"


def _broken_evaluation(result: TableResult) -> str | None:
    for outcome in (*result.table_rules, *result.rules):
        if outcome.severity == "error" and outcome.status == "error":
            return (
                f"{result.table}: rule {outcome.rule}{_on(outcome)} could not be evaluated "
                f"({outcome.observed.removeprefix('error: ') if outcome.observed else 'no detail'})"
            )
    return None


def _failed_table_rule(result: TableResult) -> str | None:
    for outcome in result.table_rules:
        if outcome.severity == "error" and outcome.status == "failed":
            return (
                f"{result.table}: rule {outcome.rule}{_on(outcome)} failed: "
                f"{outcome.observed}, but {outcome.expected}"
            )
    return None


def _rule_breaches(result: TableResult) -> list[tuple[float, RuleOutcome]]:
    """(share above threshold, outcome) of every error rule quarantining too many rows."""
    breaches = []
    for outcome in result.rules:
        if outcome.severity != "error" or outcome.status != "failed":
            continue
        excess = outcome.share - result.thresholds.for_rule(outcome.rule)
        if excess > 0:
            breaches.append((excess, outcome))
    return breaches


def stop_sentence(
    results: Mapping[str, TableResult] | Iterable[TableResult],
    quarantine_paths: Mapping[str, str] | None = None,
) -> str | None:
    """None if the run may go on, else one sentence naming table, rule, column and rows.

    Thresholds come from each result's contract (`max_quarantine_share`); `quarantine_paths`
    maps a table to where its quarantined rows were written.
    """
    tables = list(results.values()) if isinstance(results, Mapping) else list(results)
    paths = quarantine_paths or {}
    for check in (_broken_evaluation, _failed_table_rule):
        for result in tables:
            sentence = check(result)
            if sentence is not None:
                return sentence
    breaches = [(excess, o, r) for r in tables for excess, o in _rule_breaches(r)]
    if breaches:
        # A cross-table breach is often the echo of a problem upstream (items quarantined,
        # so their events are orphans): name an own-table breach first, the worst of them.
        _, outcome, result = max(breaches, key=lambda b: (b[1].kind != "known_in", b[0]))
        threshold = result.thresholds.for_rule(outcome.rule)
        return (
            f"{result.table}: rule {outcome.rule}{_on(outcome)} quarantined "
            f"{percent(outcome.share)} of {_rows(result.rows_in)} (threshold {percent(threshold)})"
            f"{_first_place(outcome)}; {_where_quarantined(result.table, paths)}"
        )
    for result in tables:
        if result.quarantine_share > result.thresholds.table:
            failing = [o for o in result.rules if o.severity == "error" and o.failed]
            top = max(failing, key=lambda outcome: outcome.failed)
            return (
                f"{result.table}: {percent(result.quarantine_share)} of {_rows(result.rows_in)} "
                f"were quarantined by {len(failing)} rule{'s' if len(failing) > 1 else ''}, "
                f"most by {top.rule}{_on(top)} "
                f"({_rows(top.failed)}) (threshold {percent(result.thresholds.table)}); "
                f"{_where_quarantined(result.table, paths)}"
            )
    return None
