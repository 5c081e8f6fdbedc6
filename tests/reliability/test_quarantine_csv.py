"""Issue 21 item 9: quarantine samples written as CSV cannot inject a spreadsheet formula."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from karpa.manifests import ValidateManifest
from tasks.validate import _quarantine_samples

DANGEROUS = ['=HYPERLINK("http://x","y")', "+1+2", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"]


def test_quarantine_samples_escape_formula_starts(tmp_path: Path):
    """Quarantined values that start like a spreadsheet formula (`=`, `+`, `-`, `@`, tab, CR) are
    written escaped to the CSV sample; numbers stay numbers."""
    folder = tmp_path / "validated"
    (folder / "quarantine").mkdir(parents=True)
    frame = pd.DataFrame(
        {
            "message_id": [f"m{i}" for i in range(len(DANGEROUS) + 1)],
            "text": [*DANGEROUS, "plain text"],
            "price": [-1.5] * (len(DANGEROUS) + 1),
            "reasons": ["text: text_length (too long)"] * (len(DANGEROUS) + 1),
        }
    )
    frame.to_parquet(folder / "quarantine" / "messages.parquet", index=False)
    manifest = ValidateManifest(
        fingerprint="f",
        path=str(folder),
        accepted={},
        counts={},
        pii={},
        warnings=[],
        drifted=[],
        report="r",
        summary_markdown="",
    )
    out = _quarantine_samples(manifest, tmp_path / "samples")
    with (out / "messages.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(frame)  # every quarantined row is in the sample
    assert [r["text"] for r in rows] == ["'" + v for v in DANGEROUS] + ["plain text"]
    assert all(r["price"] == "-1.5" for r in rows)  # numbers stay numbers
    raw = (out / "messages.csv").read_text()
    assert raw.startswith('"message_id","text"') and '"m6","plain text","-1.5"' in raw
