"""Issue 21 items 8 and 10: bad input is one sentence or a quarantine entry that names the
file, the row and the column, with a hint where there is one; rows in = accepted +
quarantined."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from karpa.config import IngestConfig, SourceSpec, ValidateConfig
from karpa.errors import SourceError
from karpa.ingest.stage import ingest_table
from karpa.store import Store
from karpa.validation.stage import validate

CFG = IngestConfig(batch_rows=1000)
REFERENCE = "2026-04-01T00:00:00Z"


def _message(i: int, **extra) -> dict:
    return {"message_id": f"m{i}", "text": f"hello {i}", "ts": "2026-02-01T10:00:00Z", **extra}


def _validated(tmp_path: Path, table: str, spec: SourceSpec):
    store = Store(tmp_path / "store")
    manifest = ingest_table(table, spec, str(tmp_path), CFG, store)
    result = validate({table: manifest}, ValidateConfig(reference_time=REFERENCE), store)
    counts = result.counts[table]
    assert counts["rows_in"] == counts["rows_accepted"] + counts["rows_quarantined"]
    quarantine = pd.read_parquet(Path(result.path) / "quarantine" / f"{table}.parquet")
    return manifest, counts, quarantine


def test_jsonl_list_where_a_string_is_expected_is_quarantined(tmp_path):
    """A JSONL record with a list where a string belongs is quarantined by row, naming file, line
    and column; the other rows go on."""
    lines = [_message(1), _message(2, text=["a", "list"]), _message(3)]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    _, counts, quarantine = _validated(
        tmp_path, "messages", SourceSpec(path="m.jsonl", format="jsonl")
    )
    assert counts == {"rows_in": 3, "rows_accepted": 2, "rows_quarantined": 1}
    row = quarantine.iloc[0]
    assert row["_source"].endswith("m.jsonl") and row["_row"] == 2
    assert "column 'text': a JSON list where a single value is expected" in row["reasons"]


def test_jsonl_rows_are_line_numbers_after_blank_lines(tmp_path):
    """A JSONL file with blank lines reports quarantined rows by their true line numbers."""
    text = (
        json.dumps(_message(1))
        + "\n\n\n"
        + json.dumps(_message(2, ts="yesterday"))
        + "\n\n"
        + json.dumps(_message(3))
        + "\n"
    )
    (tmp_path / "m.jsonl").write_text(text)
    manifest, counts, quarantine = _validated(
        tmp_path, "messages", SourceSpec(path="m.jsonl", format="jsonl")
    )
    assert list(pq.read_table(manifest.path)["_row"].to_pylist()) == [1, 4, 6]
    assert counts["rows_quarantined"] == 1 and quarantine["_row"].tolist() == [4]
    assert "column 'ts'" in quarantine["reasons"].iat[0]


def test_latin1_jsonl_line_names_row_byte_and_hint(tmp_path):
    """A latin-1 line in a UTF-8 JSONL file is quarantined by row, naming the byte and suggesting
    the encoding."""
    good = json.dumps(_message(1)).encode()
    bad = json.dumps(_message(2, text="café"), ensure_ascii=False).encode("latin-1")
    (tmp_path / "m.jsonl").write_bytes(good + b"\n" + bad + b"\n")
    _, counts, quarantine = _validated(
        tmp_path, "messages", SourceSpec(path="m.jsonl", format="jsonl")
    )
    assert counts["rows_quarantined"] == 1 and quarantine["_row"].tolist() == [2]
    assert "line 2 is not valid utf-8 (byte 0xe9" in quarantine["reasons"].iat[0]
    assert "latin-1" in quarantine["reasons"].iat[0]


def test_latin1_csv_names_the_line_and_suggests_the_encoding(tmp_path):
    """A latin-1 CSV is one sentence naming the file and line and suggesting `encoding: latin-1`,
    without quoting the row."""
    rows = ["message_id,text,ts"] + [f"m{i},hello,2026-02-01" for i in range(5)]
    rows.insert(4, "m9,café au lait,2026-02-01")
    (tmp_path / "m.csv").write_bytes("\n".join(rows).encode("latin-1") + b"\n")
    with pytest.raises(SourceError) as err:
        ingest_table(
            "messages",
            SourceSpec(path="m.csv", format="csv"),
            str(tmp_path),
            CFG,
            Store(tmp_path / "store"),
        )
    sentence = str(err.value)
    assert "\n" not in sentence and "m.csv" in sentence
    assert "line 5" in sentence and "encoding" in sentence and "latin-1" in sentence
    assert "café" not in sentence


def test_wrong_delimiter_gets_a_hint(tmp_path):
    """A CSV separated by `;` read as comma-separated is one sentence asking whether the delimiter
    is `;`."""
    (tmp_path / "m.csv").write_text("message_id;text;ts\nm1;hello;2026-02-01\n")
    with pytest.raises(SourceError) as err:
        ingest_table(
            "messages",
            SourceSpec(path="m.csv", format="csv"),
            str(tmp_path),
            CFG,
            Store(tmp_path / "store"),
        )
    assert "the header has one column 'message_id;text;ts': is the delimiter ';'?" in str(err.value)


def test_a_ragged_csv_row_is_named_by_line_without_its_content(tmp_path):
    """A CSV row with too many fields is one sentence naming its line and field counts, never its
    (possibly personal) content."""
    (tmp_path / "m.csv").write_text(
        "message_id,text,ts\nm1,hi,2026-02-01\nm2,call 555-0100-1234,x,2026-02-01,extra\n"
    )
    with pytest.raises(SourceError) as err:
        ingest_table(
            "messages",
            SourceSpec(path="m.csv", format="csv"),
            str(tmp_path),
            CFG,
            Store(tmp_path / "store"),
        )
    sentence = str(err.value)
    assert "line 3" in sentence and "Expected 3 columns, got 5" in sentence
    assert "555" not in sentence and "extra" not in sentence
