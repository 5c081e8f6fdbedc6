"""Typed shape of a data contract: one YAML file per canonical table, loaded into these models.

The vocabulary follows the Open Data Contract Standard where it has a word for the idea
(`version`, `properties`, `quality`, each rule with a `severity` and a human `description`).
Every model refuses unknown keys, so a typo in a contract is an error, not a silently
ignored rule.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from data_contracts.quality import (
    BUILTIN_RULES,
    KIND_COLUMN_TYPES,
    BetweenRule,
    ImageRule,
    QualityRule,
    Severity,
    StrictModel,
    iso_if_date,
)
from data_contracts.timebounds import resolve_time_bound

ColumnType = Literal["string", "integer", "number", "timestamp", "binary", "list"]
# What a column is for; the profile and the drift check choose their statistics from it.
ColumnRole = Literal["id", "text", "category", "label"]


class ContractError(ValueError):
    """A contract file cannot be read, does not parse, or disagrees with the canonical schema."""


class Property(StrictModel):
    """One column: its type and the constraints every value must meet."""

    type: ColumnType
    description: str = ""
    role: ColumnRole | None = None
    required: bool = False
    unique: bool = False
    allowed: list[str] | None = None
    min: float | str | None = None
    max: float | str | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)
    pattern: str | None = None
    format: Literal["json"] | None = None
    # Severity of every check derived from this property; a check that needs another
    # severity is written as its own named rule under `quality`.
    severity: Severity = "error"

    _bounds_to_text = field_validator("min", "max", mode="before")(iso_if_date)

    @model_validator(mode="after")
    def _constraints_fit_type(self) -> Property:
        if (self.min is not None or self.max is not None) and self.type not in (
            "integer",
            "number",
            "timestamp",
        ):
            raise ValueError(f"min/max need a number or timestamp column, not {self.type}")
        if self.type == "timestamp":
            for bound in (self.min, self.max):
                if bound is not None:
                    resolve_time_bound(str(bound), dt.datetime.now(dt.UTC))
        elif isinstance(self.min, str) or isinstance(self.max, str):
            raise ValueError("min/max of a numeric column must be numbers")
        lengths = self.min_length is not None or self.max_length is not None
        if lengths and self.type not in ("string", "binary"):
            raise ValueError(
                f"min_length/max_length need a string or binary column, not {self.type}"
            )
        if self.type != "string" and (
            self.allowed is not None or self.pattern is not None or self.format is not None
        ):
            raise ValueError("allowed/pattern/format need a string column")
        if self.pattern is not None:
            re.compile(self.pattern)
        return self


class QuarantineThresholds(StrictModel):
    """Largest share of rows that may be quarantined before the run stops."""

    table: float = Field(default=0.05, ge=0, le=1)
    # Per-rule overrides; a rule without one is held to `table`.
    rules: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)

    def for_rule(self, rule: str) -> float:
        return self.rules.get(rule, self.table)


# Roles whose values are codes, not prose: never scrubbed (an id that looks like a phone
# number must still join). Every other string column is free text and is scrubbed.
NOT_TEXT_ROLES = frozenset({"id", "category", "label"})


class PiiConfig(StrictModel):
    enabled: bool = True
    # Scrubbed in any case; every string column whose role is not in NOT_TEXT_ROLES is too.
    columns: list[str] = Field(default_factory=list)


class DriftThresholds(StrictModel):
    """Warn thresholds: population stability index and Jensen–Shannon distance."""

    psi_warn: float = Field(default=0.2, gt=0)
    js_warn: float = Field(default=0.1, gt=0, le=1)


class Contract(StrictModel):
    """A table's contract: schema with constraints, named quality rules, thresholds."""

    version: str
    table: str
    description: str = ""
    properties: dict[str, Property]
    quality: list[QualityRule] = Field(default_factory=list)
    max_quarantine_share: QuarantineThresholds = Field(default_factory=QuarantineThresholds)
    pii: PiiConfig = Field(default_factory=PiiConfig)
    drift: DriftThresholds = Field(default_factory=DriftThresholds)

    @model_validator(mode="after")
    def _references_resolve(self) -> Contract:
        names = rule_names(self)
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique: {', '.join(duplicates)}")
        reserved = sorted(set(names) & BUILTIN_RULES)
        if reserved:
            raise ValueError(f"rule names reserved for built-in rules: {', '.join(reserved)}")
        for rule in self.quality:
            for column in _rule_columns(rule):
                if column not in self.properties:
                    raise ValueError(f"quality rule {rule.name!r} names unknown column {column!r}")
            column_type = self.properties[rule.column].type if hasattr(rule, "column") else None
            allowed = KIND_COLUMN_TYPES.get(rule.kind)
            if allowed and column_type not in allowed:
                raise ValueError(
                    f"quality rule {rule.name!r} ({rule.kind}) cannot judge {column_type} "
                    f"column {rule.column!r}"
                )
            if isinstance(rule, BetweenRule):
                Property.model_validate(
                    {"type": self.properties[rule.column].type, "min": rule.min, "max": rule.max}
                )
        for column in self.pii.columns:
            if column not in self.properties or self.properties[column].type != "string":
                raise ValueError(f"pii column {column!r} is not a string property")
        unknown = sorted(set(self.max_quarantine_share.rules) - set(names) - BUILTIN_RULES)
        if unknown:
            raise ValueError(f"max_quarantine_share names unknown rules: {', '.join(unknown)}")
        return self

    def with_allowed(self, column: str, values: list[str]) -> Contract:
        """This contract with `column`'s allowed values replaced by `values` (a run's own
        label set); the fingerprint changes with them."""
        if column not in self.properties or self.properties[column].type != "string":
            raise ContractError(
                f"{self.table}.{column}: allowed values need a string column of the contract"
            )
        data = self.model_dump(mode="json")
        data["properties"][column]["allowed"] = list(values)
        return Contract.model_validate(data)

    def scrub_columns(self) -> list[str]:
        """The free-text columns personal data is scrubbed from: every string property not
        marked as an id, category or label, plus those listed under `pii.columns`."""
        if not self.pii.enabled:
            return []
        return [
            name
            for name, prop in self.properties.items()
            if prop.type == "string"
            and (prop.role not in NOT_TEXT_ROLES or name in self.pii.columns)
        ]

    @property
    def fingerprint(self) -> str:
        """Hash of the normalized content (version included): a cache key for the stage.

        Built from the parsed model, so comments, key order and YAML spelling do not change it.
        """
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(f"{self.version}\n{canonical}".encode()).hexdigest()


def _rule_columns(rule: QualityRule) -> list[str]:
    columns = [getattr(rule, "column", None)]
    if isinstance(rule, ImageRule):
        columns += [rule.width_column, rule.height_column]
    return [column for column in columns if column is not None]


def property_checks(prop: Property) -> list[str]:
    """The checks a property asks for, in a fixed order; each becomes rule `<column>_<check>`."""
    wanted = {
        "required": prop.required,
        "unique": prop.unique,
        "allowed": prop.allowed is not None,
        "range": prop.min is not None or prop.max is not None,
        "length": prop.min_length is not None or prop.max_length is not None,
        "pattern": prop.pattern is not None,
        "json": prop.format == "json",
    }
    return [check for check, asked in wanted.items() if asked]


def rule_names(contract: Contract) -> list[str]:
    """Names of every rule the contract defines, derived property checks included."""
    names = [
        f"{column}_{check}"
        for column, prop in contract.properties.items()
        for check in property_checks(prop)
    ]
    return names + [rule.name for rule in contract.quality]
