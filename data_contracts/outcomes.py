"""What validation hands back: per-rule outcomes and the per-table result."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from data_contracts.model import QuarantineThresholds

Status = Literal["passed", "failed", "skipped", "error"]

EXAMPLE_ROWS = 5
_PREVIEW_CHARS = 80


def preview(value: Any, limit: int = _PREVIEW_CHARS) -> Any:
    """A short, JSON-serialisable stand-in for a cell value (a 1 MB text stays readable)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value):,} bytes>"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, list | tuple | np.ndarray):
        value = str(list(value))
    elif pd.isna(value):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool | int | float):
        return value
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} chars)"


@dataclass(frozen=True)
class RuleOutcome:
    """The verdict of one rule on one table.

    `failed` counts the rows that broke a row-level rule (for `unique`: the later
    duplicates, the ones that would be quarantined); for a table-level rule it is 0 and
    `observed` says what was measured.
    """

    table: str
    rule: str
    kind: str
    column: str | None
    severity: Literal["error", "warn"]
    level: Literal["row", "table"]
    engine: Literal["great_expectations", "karpa"]
    description: str
    status: Status
    expected: str = ""  # what the rule demands, in a few words
    failed: int = 0
    rows: int = 0
    observed: str | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    # Failing rows per source file, largest first (at most five files).
    sources: dict[str, int] = field(default_factory=dict)

    @property
    def share(self) -> float:
        return self.failed / self.rows if self.rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TableResult:
    """Validation of one table: the row split, and every rule's outcome.

    `accepted` and `quarantine` keep the input's columns (provenance included);
    `quarantine` adds `reasons`, the `; `-joined list of every error rule the row broke.
    """

    table: str
    contract_version: str
    contract_fingerprint: str
    reference_time: dt.datetime
    rows_in: int
    accepted: pd.DataFrame
    quarantine: pd.DataFrame
    rules: list[RuleOutcome]
    table_rules: list[RuleOutcome]
    thresholds: QuarantineThresholds

    @property
    def rows_accepted(self) -> int:
        return len(self.accepted)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)

    @property
    def quarantine_share(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0

    def outcome(self, rule: str) -> RuleOutcome:
        """The outcome of the rule named `rule` (row- or table-level)."""
        for outcome in (*self.rules, *self.table_rules):
            if outcome.rule == rule:
                return outcome
        raise KeyError(f"{self.table} has no rule named {rule!r}")

    def summary(self) -> dict[str, Any]:
        """A JSON-serialisable digest (counts and outcomes, no rows) for manifests and tracking."""
        return {
            "table": self.table,
            "contract_version": self.contract_version,
            "contract_fingerprint": self.contract_fingerprint,
            "reference_time": self.reference_time.isoformat(),
            "rows_in": self.rows_in,
            "rows_accepted": self.rows_accepted,
            "rows_quarantined": self.rows_quarantined,
            "quarantine_share": self.quarantine_share,
            "max_quarantine_share": self.thresholds.model_dump(),
            "rules": [outcome.to_dict() for outcome in self.rules],
            "table_rules": [outcome.to_dict() for outcome in self.table_rules],
        }
