"""Validate a table against its contract: split rows into accepted and quarantined.

Row-level verdicts come from Great Expectations for every rule it can express and from
`custom_rules` / `images` for the rest; each rule is evaluated exactly once. A row that
breaks any `error` rule is quarantined with one reason per broken rule; `warn` rules are
only reported. Every row ends up in exactly one of the two frames, and that is checked.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Mapping
from graphlib import CycleError, TopologicalSorter

import numpy as np
import pandas as pd
import pyarrow as pa

from data_contracts.custom_rules import (
    RowFailures,
    ingest_error_failures,
    keep_first_duplicates,
    known_in_failures,
    label_distribution_verdict,
)
from data_contracts.gx_suite import GxVerdict, run_gx
from data_contracts.images import frame_batches, scan_images
from data_contracts.loader import ContractError, load_contracts
from data_contracts.model import Contract
from data_contracts.outcomes import EXAMPLE_ROWS, RuleOutcome, Status, TableResult, preview
from data_contracts.rules import Rule, compile_rules

logger = logging.getLogger(__name__)

REASONS = "reasons"
_NO_COLUMN_KINDS = frozenset({"row_count", "columns_present", "ingest_error"})


def _prepare(frame: pd.DataFrame | pa.Table) -> pd.DataFrame:
    # Row position is the identity of a row from here on: GX reports failing index labels,
    # and with a RangeIndex label and position are the same number.
    if isinstance(frame, pa.Table):
        frame = frame.to_pandas()
    frame = frame.reset_index(drop=True)
    if "_row" not in frame.columns:
        frame = frame.assign(_row=np.arange(1, len(frame) + 1, dtype=np.int64))
    if "_source" not in frame.columns:
        frame = frame.assign(_source=pd.Series([None] * len(frame), dtype=object))
    return frame


def _row_failures(
    rule: Rule,
    frame: pd.DataFrame,
    verdict: GxVerdict | None,
    known: Mapping[str, Collection[object]],
) -> RowFailures | str:
    """The rows `rule` rejects, or a string saying why it could not be evaluated."""
    if verdict is not None:
        if verdict.error is not None:
            return f"error: {verdict.error}"
        if not verdict.success and len(verdict.positions) == 0:
            # Never let a failure pass for want of row indices.
            return "error: GX reported a failure without naming the failing rows"
        if rule.kind == "unique":
            return keep_first_duplicates(frame, rule.column, verdict.positions)
        return RowFailures(verdict.positions, rule.check)
    if rule.kind == "ingest_error":
        return ingest_error_failures(frame)
    if rule.kind == "known_in":
        reference = rule.params["reference"]
        if reference not in known:
            return f"skipped: {reference} not available to check against"
        return known_in_failures(frame, rule, known[reference])
    if rule.kind == "image":
        params = rule.params
        columns = [rule.column, params.get("width_column"), params.get("height_column")]
        columns = [name for name in columns if name in frame.columns]
        found = list(scan_images(frame_batches(frame, columns, params["batch_rows"]), rule))
        positions = np.array([position for position, _ in found], dtype=np.int64)
        return RowFailures(positions, np.array([reason for _, reason in found], dtype=object))
    raise ValueError(f"no evaluator for rule kind {rule.kind!r}")


def _outcome(table: str, rule: Rule, rows: int, status: Status, **fields: object) -> RuleOutcome:
    return RuleOutcome(
        table=table,
        rule=rule.name,
        kind=rule.kind,
        column=rule.column,
        severity=rule.severity,
        level=rule.level,
        engine=rule.engine,
        description=rule.description,
        status=status,
        expected=rule.check,
        rows=rows,
        **fields,
    )


def _row_outcome(
    table: str, rule: Rule, frame: pd.DataFrame, failures: RowFailures | str
) -> RuleOutcome:
    if isinstance(failures, str):
        status: Status = "error" if failures.startswith("error") else "skipped"
        return _outcome(table, rule, len(frame), status, observed=failures)
    positions = failures.positions
    examples = []
    for index, position in enumerate(positions[:EXAMPLE_ROWS]):
        detail = failures.details if isinstance(failures.details, str) else failures.details[index]
        examples.append(
            {
                "source": preview(frame["_source"].iat[position]),
                "row": preview(frame["_row"].iat[position]),
                "value": preview(frame[rule.column].iat[position]) if rule.column else None,
                "detail": str(detail),
            }
        )
    sources = frame["_source"].iloc[positions].fillna("<unknown source>").value_counts().head(5)
    return _outcome(
        table,
        rule,
        len(frame),
        "failed" if len(positions) else "passed",
        failed=len(positions),
        examples=examples,
        sources={str(name): int(count) for name, count in sources.items()},
    )


def _table_outcome(
    table: str, rule: Rule, frame: pd.DataFrame, verdict: GxVerdict | None
) -> RuleOutcome:
    rows = len(frame)
    if rule.kind == "label_distribution":
        ok, observed = label_distribution_verdict(frame, rule)
        return _outcome(table, rule, rows, "passed" if ok else "failed", observed=observed)
    if verdict is None:
        raise ValueError(f"rule {rule.name!r} has no GX verdict")
    if verdict.error is not None:
        return _outcome(table, rule, rows, "error", observed=f"error: {verdict.error}")
    status: Status = "passed" if verdict.success else "failed"
    return _outcome(table, rule, rows, status, observed=_observed(rule, verdict.observed))


def _observed(rule: Rule, observed: str | None) -> str | None:
    # GX reports bare values ("0", "NaT"); say what they are.
    if rule.kind == "row_count" and observed is not None:
        count = int(observed)
        return f"{count:,} row{'' if count == 1 else 's'}"
    if rule.kind == "freshness":
        missing = observed in (None, "NaT", "None", "nan")
        return f"no {rule.column} values" if missing else f"newest {rule.column} {observed}"
    return observed


def _quarantine_reasons(failed: list[tuple[Rule, RowFailures]]) -> pd.Series:
    """One `; `-joined reason string per quarantined row position, rules in contract order."""
    positions, reasons = [], []
    for rule, failures in failed:
        prefix = f"{rule.column}: {rule.name}"
        if isinstance(failures.details, str):
            texts = np.full(len(failures), f"{prefix} ({failures.details})", dtype=object)
        else:
            texts = np.array([f"{prefix} ({detail})" for detail in failures.details], dtype=object)
        positions.append(failures.positions)
        reasons.append(texts)
    if not positions:
        return pd.Series([], dtype=object)
    position = np.concatenate(positions)
    text = np.concatenate(reasons)
    order = np.argsort(position, kind="stable")
    position, text = position[order], text[order]
    rows, starts, counts = np.unique(position, return_index=True, return_counts=True)
    joined = text[starts]
    # Most quarantined rows break one rule; join in Python only where a row broke several.
    for index in np.flatnonzero(counts > 1):
        joined[index] = "; ".join(text[starts[index] : starts[index] + counts[index]])
    return pd.Series(joined, index=rows, dtype=object)


def validate_table(
    frame: pd.DataFrame | pa.Table,
    contract: Contract,
    *,
    reference_time: dt.datetime | None = None,
    known: Mapping[str, Collection[object]] | None = None,
) -> TableResult:
    """Validate one table against `contract`.

    Args:
        frame: the canonical table; `_source`/`_row` are filled in if absent.
        contract: the table's contract.
        reference_time: what `now` means in time bounds and freshness (default: now, UTC).
        known: values of referenced columns for cross-table rules, keyed `table.column`
            (e.g. `{"items.item_id": ...}`); a rule whose reference is absent is skipped.
    """
    reference_time = reference_time or dt.datetime.now(dt.UTC)
    frame = _prepare(frame)
    table, known = contract.table, known or {}
    rules = compile_rules(contract, reference_time)
    missing_column = {
        rule.name
        for rule in rules
        if rule.column is not None
        and rule.column not in frame.columns
        and rule.kind not in _NO_COLUMN_KINDS
    }
    gx_rules = [
        r for r in rules if r.engine == "great_expectations" and r.name not in missing_column
    ]
    verdicts = run_gx(frame, gx_rules, table)

    row_outcomes, table_outcomes = [], []
    quarantining: list[tuple[Rule, RowFailures]] = []
    for rule in rules:
        if rule.name in missing_column:
            # The missing column itself is reported, as an error, by `columns_present`.
            note = f"skipped: column {rule.column!r} is missing"
            outcomes = row_outcomes if rule.level == "row" else table_outcomes
            outcomes.append(_outcome(table, rule, len(frame), "skipped", observed=note))
            continue
        if rule.level == "table":
            table_outcomes.append(_table_outcome(table, rule, frame, verdicts.get(rule.name)))
            continue
        failures: RowFailures | str = _row_failures(rule, frame, verdicts.get(rule.name), known)
        row_outcomes.append(_row_outcome(table, rule, frame, failures))
        if rule.severity == "error" and isinstance(failures, RowFailures) and len(failures):
            quarantining.append((rule, failures))

    reasons = _quarantine_reasons(quarantining)
    mask = np.zeros(len(frame), dtype=bool)
    mask[reasons.index.to_numpy(dtype=np.int64)] = True
    accepted = frame[~mask].reset_index(drop=True)
    quarantine = frame.iloc[reasons.index.to_numpy(dtype=np.int64)].reset_index(drop=True)
    quarantine[REASONS] = reasons.to_numpy(dtype=object)
    if len(accepted) + len(quarantine) != len(frame):
        raise RuntimeError(
            f"{table}: {len(frame)} rows in but {len(accepted)} accepted + "
            f"{len(quarantine)} quarantined; validation lost track of rows"
        )
    logger.info(
        "%s: %d rows in, %d accepted, %d quarantined",
        table,
        len(frame),
        len(accepted),
        len(quarantine),
    )
    return TableResult(
        table=table,
        contract_version=contract.version,
        contract_fingerprint=contract.fingerprint,
        reference_time=reference_time,
        rows_in=len(frame),
        accepted=accepted,
        quarantine=quarantine,
        rules=row_outcomes,
        table_rules=table_outcomes,
        thresholds=contract.max_quarantine_share,
    )


def references(contract: Contract) -> set[str]:
    """The `table.column` values the contract's cross-table rules check against."""
    return {rule.reference for rule in contract.quality if rule.kind == "known_in"}


def table_order(tables: list[str], contracts: Mapping[str, Contract]) -> list[str]:
    """`tables` in an order where each comes after the tables its cross-table rules read."""
    graph = {
        name: {ref.split(".")[0] for ref in references(contracts[name])} & set(tables)
        for name in tables
    }
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise ContractError(f"cross-table rules form a cycle: {exc.args[1]}") from exc


def validate_tables(
    tables: Mapping[str, pd.DataFrame | pa.Table],
    contracts: Mapping[str, Contract] | None = None,
    *,
    reference_time: dt.datetime | None = None,
) -> dict[str, TableResult]:
    """Validate several tables, referenced tables first.

    Cross-table rules check against the *accepted* rows of the referenced table: an event
    pointing at a quarantined item would otherwise reach training without its item.
    """
    contracts = contracts or load_contracts(tables=list(tables))
    missing = sorted(set(tables) - set(contracts))
    if missing:
        raise ContractError(f"no contract for table(s): {', '.join(missing)}")
    reference_time = reference_time or dt.datetime.now(dt.UTC)
    results: dict[str, TableResult] = {}
    for name in table_order(list(tables), contracts):
        known = {}
        for reference in references(contracts[name]):
            ref_table, ref_column = reference.split(".")
            if ref_table in results:
                known[reference] = results[ref_table].accepted[ref_column].dropna().unique()
        results[name] = validate_table(
            tables[name], contracts[name], reference_time=reference_time, known=known
        )
    return {name: results[name] for name in tables}
