"""Flatten a contract into one list of rules, each with resolved parameters.

Property constraints (required, unique, allowed, min/max, lengths, pattern, json) and the
named `quality` rules become the same `Rule` shape here, so that everything downstream
(the Great Expectations suite, the rules GX cannot express, the reports) handles a single
kind of object. Relative timestamp bounds (`now+1d`) are resolved against the run's
reference time at this point and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from data_contracts.model import Contract, ContractError, Property, property_checks
from data_contracts.quality import ROW_KINDS, BetweenRule
from data_contracts.timebounds import parse_duration, resolve_time_bound

Engine = Literal["great_expectations", "karpa"]

# Kinds whose verdict Great Expectations computes; the others are implemented once, in
# this package, because GX cannot express them (cross-table membership, image decoding,
# ingestion errors, label shares).
GX_KINDS = frozenset(
    {
        "not_null",
        "unique",
        "in_set",
        "between",
        "length",
        "pattern",
        "json",
        "row_count",
        "freshness",
        "columns_present",
    }
)


@dataclass(frozen=True)
class Rule:
    """One check of one table, ready to run."""

    name: str
    kind: str
    column: str | None
    severity: Literal["error", "warn"]
    description: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def level(self) -> Literal["row", "table"]:
        return "row" if self.kind in ROW_KINDS or self.kind == "ingest_error" else "table"

    @property
    def engine(self) -> Engine:
        return "great_expectations" if self.kind in GX_KINDS else "karpa"

    @property
    def check(self) -> str:
        """A short statement of what the rule demands, for quarantine reasons and reports."""
        p = self.params
        texts = {
            "not_null": "value is required",
            "unique": "value must be unique",
            "in_set": _one_of(p.get("values", [])),
            "between": "value must be " + _span(p.get("min"), p.get("max")),
            "length": "length must be " + _span(p.get("min"), p.get("max")),
            "pattern": f"value must match {p.get('regex')!r}",
            "json": "value must be valid JSON",
            "known_in": f"value must exist in {p.get('reference')}",
            "image": "image must decode and meet the image rule",
            "ingest_error": "row could not be parsed at ingestion",
            "columns_present": "every contract column must be present",
            "row_count": "row count must be " + _span(p.get("min"), p.get("max")),
            "freshness": f"newest {self.column} must be after {_show(p.get('newest_after'))}",
            "label_distribution": (
                f"largest class at most {p.get('max_share', 1):.0%} of labelled rows, "
                f"at least {p.get('min_classes', 1)} classes"
            ),
        }
        return texts.get(self.kind, self.description)


def _span(low: Any, high: Any) -> str:
    if low is None:
        return f"at most {_show(high)}"
    if high is None:
        return f"at least {_show(low)}"
    return f"within [{_show(low)}, {_show(high)}]"


def _one_of(values: list[Any], shown: int = 12) -> str:
    """`value must be one of a, b, c`; a long set (77 intents) is counted, not listed."""
    if len(values) <= shown:
        return "value must be one of " + ", ".join(map(str, values))
    head = ", ".join(map(str, values[:shown]))
    return f"value must be one of the {len(values)} allowed values ({head}, ...)"


def _show(bound: Any) -> str:
    if isinstance(bound, pd.Timestamp):
        return bound.isoformat()
    return f"{bound:,.10g}" if isinstance(bound, int | float) else str(bound)


def _bound(value: float | str | None, column_type: str, reference: dt.datetime) -> Any:
    if value is None:
        return None
    if column_type == "timestamp":
        return pd.Timestamp(resolve_time_bound(str(value), reference))
    return float(value)


def _property_rules(column: str, prop: Property, reference: dt.datetime) -> list[Rule]:
    low, high = (_bound(b, prop.type, reference) for b in (prop.min, prop.max))
    specs = {
        "required": ("not_null", "is required", {}),
        "unique": ("unique", "is unique (later duplicates are quarantined)", {}),
        "allowed": ("in_set", "is one of the allowed values", {"values": prop.allowed}),
        "range": ("between", "is within its range", {"min": low, "max": high}),
        "length": (
            "length",
            "length is within bounds",
            {"min": prop.min_length, "max": prop.max_length},
        ),
        "pattern": ("pattern", "matches its pattern", {"regex": prop.pattern}),
        "json": ("json", "is valid JSON", {}),
    }
    rules = []
    for check in property_checks(prop):
        kind, text, params = specs[check]
        description = f"{column} {text}." + (f" {prop.description}" if prop.description else "")
        rules.append(Rule(f"{column}_{check}", kind, column, prop.severity, description, params))
    return rules


def compile_rules(contract: Contract, reference_time: dt.datetime) -> list[Rule]:
    """Every rule of `contract`, in contract order, plus the built-in rules.

    The built-ins are `columns_present` (each contract column exists) and `ingest_error`
    (a row ingestion could not parse is quarantined with ingestion's reason).
    """
    reference = reference_time.astimezone(dt.UTC)
    rules = [
        Rule(
            "columns_present",
            "columns_present",
            None,
            "error",
            "Every column the contract names is present.",
            {"columns": list(contract.properties)},
        ),
        Rule(
            "ingest_error",
            "ingest_error",
            "_ingest_error",
            "error",
            "Rows that ingestion could not parse are quarantined with ingestion's reason.",
        ),
    ]
    for column, prop in contract.properties.items():
        rules += _property_rules(column, prop, reference)
    for spec in contract.quality:
        params = spec.model_dump(exclude={"name", "kind", "severity", "description", "column"})
        if isinstance(spec, BetweenRule):
            column_type = contract.properties[spec.column].type
            params = {key: _bound(params[key], column_type, reference) for key in ("min", "max")}
        if spec.kind == "freshness":
            params["newest_after"] = pd.Timestamp(reference - parse_duration(spec.max_age))
        rules.append(
            Rule(
                spec.name,
                spec.kind,
                getattr(spec, "column", None),
                spec.severity,
                spec.description,
                params,
            )
        )
    _refuse_repeated_checks(contract.table, rules)
    return rules


def _refuse_repeated_checks(table: str, rules: list[Rule]) -> None:
    # One source of truth per rule: two rules making the same check (whatever their
    # severity) would report every failure twice, and GX would merge them in one suite.
    seen: dict[str, str] = {}
    for rule in rules:
        key = repr((rule.kind, rule.column, sorted(rule.params.items())))
        if key in seen:
            raise ContractError(
                f"{table}: rule {rule.name!r} repeats the check of rule {seen[key]!r}"
            )
        seen[key] = rule.name
