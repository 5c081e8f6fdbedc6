"""The named quality rules a contract lists under `quality`, one model per kind.

Each kind carries only the parameters it needs; the `kind` key selects the model, so a
rule with a misspelt parameter is refused with the kind and the key in the message.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from data_contracts.timebounds import parse_duration

Severity = Literal["error", "warn"]


def iso_if_date(value: Any) -> Any:
    """YAML turns an unquoted 2000-01-01 into a date; keep bounds as text until resolved."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


class StrictModel(BaseModel):
    """Refuses unknown keys (a typo is an error, not an ignored rule) and is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Rule(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    severity: Severity
    description: str = Field(min_length=1)


class _Bounded(_Rule):
    @model_validator(mode="after")
    def _has_a_bound(self) -> _Bounded:
        if getattr(self, "min", None) is None and getattr(self, "max", None) is None:
            raise ValueError(f"rule {self.name!r} needs min, max or both")
        return self


class NotNullRule(_Rule):
    kind: Literal["not_null"]
    column: str


class UniqueRule(_Rule):
    kind: Literal["unique"]
    column: str


class InSetRule(_Rule):
    kind: Literal["in_set"]
    column: str
    values: list[str] = Field(min_length=1)


class BetweenRule(_Bounded):
    kind: Literal["between"]
    column: str
    min: float | str | None = None
    max: float | str | None = None

    _bounds_to_text = field_validator("min", "max", mode="before")(iso_if_date)


class LengthRule(_Bounded):
    kind: Literal["length"]
    column: str
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


class PatternRule(_Rule):
    kind: Literal["pattern"]
    column: str
    regex: str

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        re.compile(value)
        return value


class JsonRule(_Rule):
    kind: Literal["json"]
    column: str


class KnownInRule(_Rule):
    """Cross-table membership: every non-null value appears in `reference` (`table.column`)."""

    kind: Literal["known_in"]
    column: str
    reference: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$")


class ImageRule(_Rule):
    """Every image decodes (PIL verify, then load), has an allowed mode and a sane size."""

    kind: Literal["image"]
    column: str = "bytes"
    modes: list[str] = Field(default_factory=lambda: ["RGB", "RGBA", "L", "P"])
    min_side: int = Field(default=1, ge=1)
    max_side: int = Field(default=8192, ge=1)
    # The declared width/height columns must agree with the decoded pixels.
    width_column: str | None = "width"
    height_column: str | None = "height"
    batch_rows: int = Field(default=256, ge=1)


class RowCountRule(_Bounded):
    kind: Literal["row_count"]
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


class FreshnessRule(_Rule):
    """The newest timestamp is no older than `max_age` before the reference time."""

    kind: Literal["freshness"]
    column: str
    max_age: str

    @field_validator("max_age")
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_duration(value)
        return value


class LabelDistributionRule(_Rule):
    """No class holds more than `max_share` of the labelled rows; at least `min_classes`."""

    kind: Literal["label_distribution"]
    column: str
    max_share: float = Field(default=1.0, gt=0, le=1)
    min_classes: int = Field(default=1, ge=1)


QualityRule = Annotated[
    NotNullRule
    | UniqueRule
    | InSetRule
    | BetweenRule
    | LengthRule
    | PatternRule
    | JsonRule
    | KnownInRule
    | ImageRule
    | RowCountRule
    | FreshnessRule
    | LabelDistributionRule,
    Field(discriminator="kind"),
]

ROW_KINDS = frozenset(
    {"not_null", "unique", "in_set", "between", "length", "pattern", "json", "known_in", "image"}
)
# The column types each kind of rule can judge.
KIND_COLUMN_TYPES = {
    "in_set": {"string"},
    "between": {"integer", "number", "timestamp"},
    "length": {"string", "binary"},
    "pattern": {"string"},
    "json": {"string"},
    "image": {"binary"},
    "freshness": {"timestamp"},
    "label_distribution": {"string"},
}
# Rules every table has without writing them: rows that ingestion could not parse, and
# the presence of every contract column.
BUILTIN_RULES = frozenset({"ingest_error", "columns_present"})
