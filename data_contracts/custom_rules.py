"""The rules Great Expectations cannot express, implemented here once.

- `known_in`: cross-table membership (a value must exist in another table's column);
- `ingest_error`: a row that ingestion could not parse carries its reason in `_ingest_error`;
- `label_distribution`: no class above a share of the labelled rows;
- keep-first for duplicates: GX flags every member of a duplicated key; which one to keep
  is our policy, applied to GX's verdict rather than recomputing it.
Image decoding lives in `images.py`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_contracts.rules import Rule


@dataclass(frozen=True)
class RowFailures:
    """Rows that broke one rule: positions, and a detail for all of them or one per row."""

    positions: np.ndarray
    details: str | np.ndarray

    @classmethod
    def none(cls) -> RowFailures:
        return cls(np.empty(0, dtype=np.int64), "")

    def __len__(self) -> int:
        return len(self.positions)


def known_in_failures(frame: pd.DataFrame, rule: Rule, known: Collection[object]) -> RowFailures:
    """Non-null values of `rule.column` missing from `known` (nulls are left to `required`)."""
    values = frame[rule.column]
    unknown = values.notna().to_numpy() & ~values.isin(list(known)).to_numpy()
    return RowFailures(np.flatnonzero(unknown), f"not found in {rule.params['reference']}")


def ingest_error_failures(frame: pd.DataFrame) -> RowFailures:
    """Rows whose `_ingest_error` is set, with ingestion's own reason as the detail."""
    if "_ingest_error" not in frame.columns:
        return RowFailures.none()
    errors = frame["_ingest_error"]
    positions = np.flatnonzero(errors.notna().to_numpy())
    return RowFailures(positions, errors.to_numpy(dtype=object)[positions].astype(str))


def _where(source: object, row: object) -> str:
    place = f"row {row}" if pd.notna(row) else "an earlier row"
    return f"{source} {place}" if isinstance(source, str) and source else place


def keep_first_duplicates(frame: pd.DataFrame, column: str, flagged: np.ndarray) -> RowFailures:
    """From the rows GX flagged as non-unique, the ones after each value's first occurrence.

    The detail names the row that is kept, so the on-call person can compare the two.
    """
    if len(flagged) == 0:
        return RowFailures.none()
    flagged = np.sort(flagged)
    values = frame[column].iloc[flagged]
    later = values.duplicated(keep="first").to_numpy()
    first_of = pd.Series(flagged[~later], index=values[~later].to_numpy())
    kept = first_of.reindex(values[later].to_numpy()).to_numpy(dtype=np.int64)
    sources = frame["_source"].to_numpy(dtype=object)[kept]
    rows = frame["_row"].to_numpy(dtype=object)[kept]
    details = np.array(
        [f"duplicate of {_where(src, row)}" for src, row in zip(sources, rows, strict=True)],
        dtype=object,
    )
    return RowFailures(flagged[later], details)


def label_distribution_verdict(frame: pd.DataFrame, rule: Rule) -> tuple[bool, str]:
    """Whether the labelled rows meet `max_share` and `min_classes`, and what was observed."""
    counts = frame[rule.column].dropna().value_counts()
    labelled = int(counts.sum())
    if labelled == 0:
        return rule.params["min_classes"] <= 0, "no labelled rows"
    top_class, top_count = str(counts.index[0]), int(counts.iloc[0])
    top_share = top_count / labelled
    observed = (
        f"{len(counts)} classes over {labelled:,} labelled rows; "
        f"largest {top_class!r} at {top_share:.1%}"
    )
    ok = top_share <= rule.params["max_share"] and len(counts) >= rule.params["min_classes"]
    return ok, observed
