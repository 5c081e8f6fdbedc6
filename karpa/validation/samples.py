"""Quarantine samples as CSV that a spreadsheet opens without running anything.

A cell that begins with `=`, `+`, `-` or `@` (or a tab or carriage return, which some
spreadsheets skip before looking for one) is read as a formula: a quarantined row is
exactly the kind of untrusted text that could carry one. As OWASP recommends, such a cell
is prefixed with a single quote, and every field is quoted.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells cannot start a formula."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            out[name] = column.map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v
            ).astype(object)
    return out


def write_sample_csv(frame: pd.DataFrame, path: Path) -> None:
    """`frame` as a spreadsheet-safe CSV (every field quoted, formula starts escaped)."""
    spreadsheet_safe(frame).to_csv(path, index=False, quoting=csv.QUOTE_ALL)
