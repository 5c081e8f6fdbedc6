"""Validate a table one partition at a time, with the verdict of `validate_table`.

A partition (a row range of the table) is checked on its own against every rule that
looks at one row at a time; what needs the whole table — uniqueness of a key, and the
table-level rules (row count, freshness, label shares, columns present) — is decided
afterwards, once, on just the columns those rules read. The per-rule failures are
positions in the whole table, so the quarantine reasons are joined exactly as
`validate_table` joins them, and every outcome (counts, examples, sources) is the one
`validate_table` reports on the whole table.

Flow: `check_partition` per partition -> `finish_table` on the key columns ->
`split_partition` per partition (accepted and quarantined rows, with reasons).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data_contracts.custom_rules import RowFailures
from data_contracts.gx_suite import run_gx
from data_contracts.model import Contract
from data_contracts.outcomes import EXAMPLE_ROWS, RuleOutcome, TableResult
from data_contracts.rules import Rule, compile_rules
from data_contracts.validate import (
    _NO_COLUMN_KINDS,
    REASONS,
    _outcome,
    _quarantine_reasons,
    _row_failures,
    _row_outcome,
    _table_outcome,
)

UNKNOWN_SOURCE = "<unknown source>"


def _whole_table(rule: Rule) -> bool:
    """Rules that need every row at once: the table-level ones and uniqueness."""
    return rule.level == "table" or rule.kind == "unique"


def _missing(rules: Sequence[Rule], columns: Collection[str]) -> set[str]:
    return {
        r.name
        for r in rules
        if r.column is not None and r.column not in columns and r.kind not in _NO_COLUMN_KINDS
    }


def whole_table_columns(contract: Contract, columns: Collection[str]) -> list[str]:
    """The columns `finish_table` reads: what the whole-table rules check, the row number,
    and the source file only where a uniqueness rule may have to name failing rows' files
    (a table-level rule names none, and at 10x the demo world the events' sources are a
    million strings held for nothing)."""
    rules = [r for r in compile_rules(contract, dt.datetime.now(dt.UTC)) if _whole_table(r)]
    provenance = ["_source", "_row"] if any(r.kind == "unique" for r in rules) else ["_row"]
    wanted = provenance + [r.column for r in rules if r.column is not None]
    return [c for c in dict.fromkeys(wanted) if c in columns]


@dataclass(frozen=True)
class PartitionVerdict:
    """What the row rules found in one partition; positions are in the whole table."""

    offset: int
    rows: int
    failures: dict[str, RowFailures | str]
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sources: dict[str, dict[str, int]] = field(default_factory=dict)  # first-seen order


def check_partition(
    frame: pd.DataFrame,
    contract: Contract,
    *,
    offset: int,
    reference_time: dt.datetime,
    known: Mapping[str, Collection[object]] | None = None,
) -> PartitionVerdict:
    """Apply the row rules (all but uniqueness) to rows `offset ..` of the table."""
    frame = frame.reset_index(drop=True)
    rules = compile_rules(contract, reference_time)
    missing = _missing(rules, frame.columns)
    local = [r for r in rules if not _whole_table(r) and r.name not in missing]
    verdicts = run_gx(frame, [r for r in local if r.engine == "great_expectations"], contract.table)
    failures: dict[str, RowFailures | str] = {}
    examples: dict[str, list[dict[str, Any]]] = {}
    sources: dict[str, dict[str, int]] = {}
    for rule in local:
        found = _row_failures(rule, frame, verdicts.get(rule.name), known or {})
        if isinstance(found, RowFailures):
            outcome = _row_outcome(contract.table, rule, frame, found)
            examples[rule.name] = outcome.examples
            counts = frame["_source"].iloc[found.positions].fillna(UNKNOWN_SOURCE)
            sources[rule.name] = {
                str(k): int(v) for k, v in counts.value_counts(sort=False).items()
            }
            found = RowFailures(found.positions + offset, found.details)
        failures[rule.name] = found
    return PartitionVerdict(offset, len(frame), failures, examples, sources)


@dataclass(frozen=True)
class TableVerdict:
    """The whole table's verdict: outcomes in contract order, reasons by table position."""

    rows_in: int
    reasons: pd.Series  # `; `-joined reasons, indexed by the quarantined rows' positions
    rules: list[RuleOutcome]
    table_rules: list[RuleOutcome]


def _merged(parts: list[RowFailures | str]) -> RowFailures | str:
    # A rule that could not be evaluated on some partition could not be on the table.
    for part in parts:
        if isinstance(part, str):
            return part
    found = [p for p in parts if isinstance(p, RowFailures)]
    if not found:
        return RowFailures.none()
    positions = np.concatenate([p.positions for p in found])
    texts = {p.details for p in found if isinstance(p.details, str) and len(p)}
    if all(isinstance(p.details, str) for p in found) and len(texts) <= 1:
        return RowFailures(positions, next(iter(texts), ""))
    details = [
        np.full(len(p), p.details, dtype=object) if isinstance(p.details, str) else p.details
        for p in found
    ]
    return RowFailures(positions, np.concatenate(details).astype(object))


def _top_sources(parts: list[dict[str, int]]) -> dict[str, int]:
    """Failing rows per source over all partitions, largest first, at most five — the order
    `value_counts` gives (ties in order of first appearance)."""
    total: dict[str, int] = {}
    for part in parts:
        for name, count in part.items():
            total[name] = total.get(name, 0) + count
    if not total:
        return {}
    # The same values in the same first-seen order, counted by pandas: ties come out in
    # exactly the order `validate_table`'s `value_counts` gives them.
    names = list(total)
    codes = pd.Series(np.repeat(np.arange(len(names)), list(total.values())))
    return {names[int(i)]: int(n) for i, n in codes.value_counts().head(5).items()}


def finish_table(
    contract: Contract,
    verdicts: Sequence[PartitionVerdict],
    keys: pd.DataFrame,
    columns: Collection[str],
    *,
    reference_time: dt.datetime,
) -> TableVerdict:
    """Decide the whole-table rules on `keys` (every row, only `whole_table_columns`),
    merge the partitions' row verdicts, and join the quarantine reasons.

    `columns` are the table's columns (for `columns_present` and missing-column skips).
    """
    table = contract.table
    verdicts = sorted(verdicts, key=lambda v: v.offset)
    rows = sum(v.rows for v in verdicts)
    if rows != len(keys):
        raise RuntimeError(f"{table}: partitions hold {rows} rows but the table has {len(keys)}")
    keys = keys.reset_index(drop=True)
    rules = compile_rules(contract, reference_time)
    missing = _missing(rules, columns)
    whole = [r for r in rules if _whole_table(r) and r.name not in missing]
    gx = [r for r in whole if r.engine == "great_expectations" and r.kind != "columns_present"]
    gx_verdicts = run_gx(keys, gx, table)
    present = [r for r in whole if r.kind == "columns_present"]
    if present:
        gx_verdicts.update(run_gx(pd.DataFrame(columns=list(columns)), present, table))

    row_outcomes, table_outcomes = [], []
    quarantining: list[tuple[Rule, RowFailures]] = []
    for rule in rules:
        if rule.name in missing:
            note = f"skipped: column {rule.column!r} is missing"
            outcomes = row_outcomes if rule.level == "row" else table_outcomes
            outcomes.append(_outcome(table, rule, rows, "skipped", observed=note))
            continue
        if rule.level == "table":
            table_outcomes.append(_table_outcome(table, rule, keys, gx_verdicts.get(rule.name)))
            continue
        if rule.kind == "unique":
            failures = _row_failures(rule, keys, gx_verdicts.get(rule.name), {})
            row_outcomes.append(_row_outcome(table, rule, keys, failures))
        else:
            failures = _merged([v.failures[rule.name] for v in verdicts])
            row_outcomes.append(_partitioned_outcome(table, rule, rows, failures, verdicts))
        if rule.severity == "error" and isinstance(failures, RowFailures) and len(failures):
            quarantining.append((rule, failures))
    return TableVerdict(rows, _quarantine_reasons(quarantining), row_outcomes, table_outcomes)


def _partitioned_outcome(
    table: str,
    rule: Rule,
    rows: int,
    failures: RowFailures | str,
    verdicts: Sequence[PartitionVerdict],
) -> RuleOutcome:
    if isinstance(failures, str):
        status = "error" if failures.startswith("error") else "skipped"
        return _outcome(table, rule, rows, status, observed=failures)
    examples = [e for v in verdicts for e in v.examples.get(rule.name, [])][:EXAMPLE_ROWS]
    return _outcome(
        table,
        rule,
        rows,
        "failed" if len(failures) else "passed",
        failed=len(failures),
        examples=examples,
        sources=_top_sources([v.sources.get(rule.name, {}) for v in verdicts]),
    )


def split_partition(
    frame: pd.DataFrame, reasons: pd.Series, offset: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The partition's accepted rows, and its quarantined rows with `reasons` — as
    `validate_table` splits them. `reasons` is the table's (indexed by table position)."""
    frame = frame.reset_index(drop=True)
    index = reasons.index.to_numpy(dtype=np.int64)
    inside = (index >= offset) & (index < offset + len(frame))
    local = index[inside] - offset
    mask = np.zeros(len(frame), dtype=bool)
    mask[local] = True
    accepted = frame[~mask].reset_index(drop=True)
    quarantine = frame.iloc[local].reset_index(drop=True)
    quarantine[REASONS] = reasons.to_numpy(dtype=object)[inside]
    return accepted, quarantine


def concat_quarantine(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The partitions' quarantined rows as one frame, typed as `validate_table` types it:
    empty partitions are left out, as their `reasons` column has no string type to give."""
    filled = [part for part in parts if len(part)] or list(parts[:1])
    return pd.concat(filled, ignore_index=True)


@dataclass
class PartitionedResult(TableResult):
    """A `TableResult` whose accepted rows were written partition by partition and are
    not held in memory: `accepted` is empty and `accepted_rows` counts them."""

    accepted_rows: int = 0

    @property
    def rows_accepted(self) -> int:
        return self.accepted_rows


def partitioned_result(
    contract: Contract,
    verdict: TableVerdict,
    quarantine: pd.DataFrame,
    accepted_rows: int,
    *,
    reference_time: dt.datetime,
) -> PartitionedResult:
    """The table's `TableResult` (for reports and the stop rule), counts checked."""
    if accepted_rows + len(quarantine) != verdict.rows_in:
        raise RuntimeError(
            f"{contract.table}: {verdict.rows_in} rows in but {accepted_rows} accepted + "
            f"{len(quarantine)} quarantined; validation lost track of rows"
        )
    return PartitionedResult(
        table=contract.table,
        contract_version=contract.version,
        contract_fingerprint=contract.fingerprint,
        reference_time=reference_time,
        rows_in=verdict.rows_in,
        accepted=quarantine.iloc[0:0].drop(columns=[REASONS]),
        quarantine=quarantine,
        rules=verdict.rules,
        table_rules=verdict.table_rules,
        thresholds=contract.max_quarantine_share,
        accepted_rows=accepted_rows,
    )
