"""How a quarantine table is written (by the whole-table and the partitioned path alike)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def write_quarantine(frame: pd.DataFrame, path: Path) -> None:
    """Write quarantined rows with their reasons."""
    # Quarantine keeps the original columns plus the reasons; bytes of bad images are kept
    # too (they are the evidence), which Parquet stores as binary.
    frame.reset_index(drop=True).to_parquet(path, index=False)
