"""Compile rules into a Great Expectations 1.x suite and read back which rows failed.

GX is the single place these rules are evaluated: the row-level verdict comes from GX's
`unexpected_index_list` (result format COMPLETE) on a frame whose index is the row
position, so every failure maps straight back to a row. The suite is built in code from
`gx.expectations.*` classes on every run and run on an in-memory batch of an ephemeral
context; GX's own JSON is never stored or read.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from data_contracts.rules import GX_KINDS, Rule

logger = logging.getLogger(__name__)

# COMPLETE is the only format that lists every failing row; the values themselves and the
# pandas query string are not needed (the rows are read from the frame by position).
RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "return_unexpected_index_query": False,
    "exclude_unexpected_values": True,
}
_META_KEY = "karpa_rule"
_GX_LOCK = threading.Lock()


@dataclass(frozen=True)
class GxVerdict:
    """What GX concluded about one rule."""

    success: bool
    positions: np.ndarray  # int64 row positions that broke a row-level rule
    observed: str | None = None  # table-level observed value, or a missing-column note
    error: str | None = None  # GX raised while evaluating the rule


def build_expectations(rule: Rule) -> list[Any]:
    """The `gx.expectations.*` objects that evaluate `rule` (several for `columns_present`)."""
    import great_expectations as gx

    expect = gx.expectations
    p, column = rule.params, rule.column
    meta = {_META_KEY: rule.name}
    common = {"meta": meta, "description": rule.description}
    builders = {
        "not_null": lambda: expect.ExpectColumnValuesToNotBeNull(column=column, **common),
        "unique": lambda: expect.ExpectColumnValuesToBeUnique(column=column, **common),
        "in_set": lambda: expect.ExpectColumnValuesToBeInSet(
            column=column, value_set=list(p["values"]), **common
        ),
        "between": lambda: expect.ExpectColumnValuesToBeBetween(
            column=column, min_value=p["min"], max_value=p["max"], **common
        ),
        "length": lambda: expect.ExpectColumnValueLengthsToBeBetween(
            column=column, min_value=p["min"], max_value=p["max"], **common
        ),
        "pattern": lambda: expect.ExpectColumnValuesToMatchRegex(
            column=column, regex=p["regex"], **common
        ),
        "json": lambda: expect.ExpectColumnValuesToBeJsonParseable(column=column, **common),
        "row_count": lambda: expect.ExpectTableRowCountToBeBetween(
            min_value=p["min"], max_value=p["max"], **common
        ),
        "freshness": lambda: expect.ExpectColumnMaxToBeBetween(
            column=column, min_value=p["newest_after"], **common
        ),
    }
    if rule.kind == "columns_present":
        return [
            expect.ExpectColumnToExist(column=name, meta={_META_KEY: rule.name, "column": name})
            for name in p["columns"]
        ]
    if rule.kind not in builders:
        raise ValueError(f"rule {rule.name!r} of kind {rule.kind!r} is not a GX rule")
    return [builders[rule.kind]()]


def new_context() -> Any:
    """A fresh ephemeral GX context with progress bars off."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # A fresh ephemeral context per run: nothing on disk, nothing left over between runs.
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def new_batch(context: Any, frame: pd.DataFrame, table: str) -> Any:
    """An in-memory GX batch of the whole `frame`."""
    source = context.data_sources.add_pandas(name=f"karpa_{table}")
    asset = source.add_dataframe_asset(name=table)
    definition = asset.add_batch_definition_whole_dataframe(name=f"{table}_whole")
    return definition.get_batch(batch_parameters={"dataframe": frame})


def build_suite(rules: Sequence[Rule], table: str) -> Any:
    """An `ExpectationSuite` holding every GX-evaluated rule of `rules` (needs a live context).

    `compile_rules` has already refused rules that repeat a check: a suite is a set, and
    GX would silently merge two identical expectations into one.
    """
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=f"karpa_{table}")
    for rule in rules:
        if rule.kind in GX_KINDS:
            for expectation in build_expectations(rule):
                suite.add_expectation(expectation)
    return suite


def _exception_message(result: Any) -> str | None:
    info = result.exception_info or {}
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return str(entry.get("exception_message") or "GX raised an exception")
    return None


def run_gx(frame: pd.DataFrame, rules: Sequence[Rule], table: str) -> dict[str, GxVerdict]:
    """Validate `frame` (index = row position) against the GX rules; verdicts by rule name."""
    # GX keeps its current context in a process-wide global, which a suite resolves when
    # expectations are added; one run at a time keeps two threads from crossing contexts.
    with _GX_LOCK:
        context = new_context()
        suite = build_suite(rules, table)
        results = new_batch(context, frame, table).validate(suite, result_format=RESULT_FORMAT)
    verdicts: dict[str, GxVerdict] = {}
    missing: list[str] = []
    for result in results.results:
        config = result.expectation_config
        name = config.meta[_META_KEY]
        if name == "columns_present":
            if not result.success:
                missing.append(config.meta["column"])
            continue
        body = result.result or {}
        indices = body.get("unexpected_index_list") or []
        observed = body.get("observed_value")
        verdicts[name] = GxVerdict(
            success=bool(result.success),
            positions=np.asarray(indices, dtype=np.int64),
            observed=None if observed is None else str(observed),
            error=_exception_message(result),
        )
    if any(rule.kind == "columns_present" for rule in rules):
        verdicts["columns_present"] = GxVerdict(
            success=not missing,
            positions=np.empty(0, dtype=np.int64),
            observed=("missing columns: " + ", ".join(missing)) if missing else "all present",
        )
    logger.debug("GX evaluated %d expectations on %s", len(results.results), table)
    return verdicts
