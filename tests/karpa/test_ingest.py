"""Ingestion: every source format, skip-if-unchanged, invalidation, and clear errors."""

from __future__ import annotations

import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from karpa.config import IngestConfig, SourceSpec
from karpa.errors import SourceError
from karpa.ingest.stage import ingest_table
from karpa.store import Store

CFG = IngestConfig(batch_rows=1000)


def _png(colour=(200, 0, 0)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "store")


def _read(manifest) -> pd.DataFrame:
    return pq.read_table(manifest.path).to_pandas()


def test_csv_items_with_mapping_and_bad_values(tmp_path, store):
    (tmp_path / "items.csv").write_text(
        "id,name,price,created_at\n"
        "I1,Red scarf,12.5,2026-01-01T00:00:00Z\n"
        "I2,Blue hat,abc,yesterday\n"
        "I3,,3,2026-01-02T00:00:00Z\n"
    )
    spec = SourceSpec(path="items.csv", format="csv", columns={"item_id": "id", "title": "name"})
    m = ingest_table("items", spec, str(tmp_path), CFG, store)
    df = _read(m)
    assert m.rows == 3 and list(df["item_id"]) == ["I1", "I2", "I3"]
    assert df.loc[0, "price"] == 12.5 and pd.isna(df.loc[1, "price"])
    assert "'abc' is not a number" in df.loc[1, "_ingest_error"]
    assert "'yesterday' is not an ISO-8601 timestamp" in df.loc[1, "_ingest_error"]
    assert pd.isna(df.loc[0, "_ingest_error"])
    assert list(df["_row"]) == [1, 2, 3]
    assert df["_source"].str.endswith("items.csv").all()


def test_jsonl_bad_line_kept_with_reason(tmp_path, store):
    lines = [
        {
            "message_id": "m1",
            "user_id": 7,
            "text": "where is my order",
            "ts": "2026-01-01T00:00:00Z",
        },
        "{not json",
        {"message_id": "m3", "text": "hi", "ts": "2026-01-01T01:00:00Z", "intent": "greet"},
    ]
    (tmp_path / "m.jsonl").write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    )
    m = ingest_table(
        "messages", SourceSpec(path="m.jsonl", format="jsonl"), str(tmp_path), CFG, store
    )
    df = _read(m)
    assert m.rows == 3
    assert df.loc[0, "user_id"] == "7"
    assert "line 2 is not a valid JSON object" in df.loc[1, "_ingest_error"]
    assert list(df["_row"]) == [1, 2, 3]


def test_parquet_events_streamed_in_batches(tmp_path, store):
    n = 5_500
    table = pa.table(
        {
            "user_id": [f"U{i % 50}" for i in range(n)],
            "item_id": [f"I{i % 97}" for i in range(n)],
            "event_type": ["view"] * n,
            "value": [None] * n,
            "ts": pa.array(range(n), type=pa.timestamp("s")),
            "session_id": ["s"] * n,
        }
    )
    pq.write_table(table, tmp_path / "events.parquet", row_group_size=700)
    m = ingest_table(
        "events", SourceSpec(path="events.parquet", format="parquet"), str(tmp_path), CFG, store
    )
    assert m.rows == n
    out = pq.read_table(m.path)
    assert out.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert out.column("_row").to_pylist()[-1] == n
    assert pq.ParquetFile(m.path).num_row_groups > 1  # streamed, not one giant write


def test_news_list_column_split(tmp_path, store):
    (tmp_path / "news.csv").write_text(
        "news_id,ts,headline,entities,sentiment\n"
        "n1,2026-01-01T00:00:00Z,ACME beats,ACME|GLOBX,positive\n"
    )
    spec = SourceSpec(path="news.csv", format="csv", list_separator={"entities": "|"})
    df = _read(ingest_table("news", spec, str(tmp_path), CFG, store))
    assert list(df.loc[0, "entities"]) == ["ACME", "GLOBX"]


def test_image_folder_keeps_undecodable_files(tmp_path, store):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "I1__0.png").write_bytes(_png())
    (folder / "I2__0.png").write_bytes(b"")
    (folder / "I3__0.png").write_bytes(b"\x89PNG garbage")
    (folder / "notes.png").write_bytes(_png())
    m = ingest_table(
        "images", SourceSpec(path="images", format="image_folder"), str(tmp_path), CFG, store
    )
    df = _read(m).set_index("image_id")
    assert m.rows == 4  # nothing dropped: bad files are validation's to quarantine
    assert (df.loc["I1__0", "width"], df.loc["I1__0", "height"]) == (8, 6)
    assert df.loc["I1__0", "item_id"] == "I1"
    assert df.loc[["I2__0", "I3__0"], "width"].isna().all()
    assert "does not match pattern" in df.loc["notes", "_ingest_error"]


def test_skip_when_unchanged_and_reingest_after_one_byte(tmp_path, store):
    (tmp_path / "items.csv").write_text("item_id,title\nI1,Red scarf\n")
    spec = SourceSpec(path="items.csv", format="csv")
    first = ingest_table("items", spec, str(tmp_path), CFG, store)
    again = ingest_table("items", spec, str(tmp_path), CFG, store)
    assert not first.skipped and again.skipped and again.fingerprint == first.fingerprint
    (tmp_path / "items.csv").write_text("item_id,title\nI1,Red scarg\n")
    changed = ingest_table("items", spec, str(tmp_path), CFG, store)
    assert not changed.skipped and changed.fingerprint != first.fingerprint
    # A config change to the same bytes also invalidates.
    remapped = ingest_table(
        "items",
        SourceSpec(path="items.csv", format="csv", constants={"category": "misc"}),
        str(tmp_path),
        CFG,
        store,
    )
    assert remapped.fingerprint != changed.fingerprint


def test_crash_mid_write_leaves_no_entry(tmp_path, store, monkeypatch):
    (tmp_path / "items.csv").write_text("item_id,title\nI1,Red scarf\n")
    spec = SourceSpec(path="items.csv", format="csv")
    import karpa.ingest.stage as stage

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(stage, "to_canonical", boom)
    with pytest.raises(KeyboardInterrupt):
        ingest_table("items", spec, str(tmp_path), CFG, store)
    assert not list((store.root / "tables" / "items").iterdir())
    monkeypatch.undo()
    assert not ingest_table("items", spec, str(tmp_path), CFG, store).skipped


@pytest.mark.parametrize(
    ("name", "content", "fmt", "expected"),
    [
        ("missing.csv", None, "csv", r"does not exist"),
        ("empty.csv", b"", "csv", r"empty\.csv: cannot read as CSV"),
        ("semi.csv", b"item_id;title\nI1;scarf\n", "csv", r"missing required column 'item_id'"),
        (
            "latin.csv",
            "item_id,title\nI1,caf\xe9\n".encode("latin-1"),
            "csv",
            r"latin\.csv: line 2 is not valid utf-8 \(byte 0xe9 at column 7\); is the file "
            r"latin-1",
        ),
        ("trunc.parquet", None, "parquet", r"trunc\.parquet: unreadable Parquet"),
    ],
)
def test_unreadable_sources_give_one_sentence(tmp_path, store, name, content, fmt, expected):
    if name == "trunc.parquet":
        pq.write_table(pa.table({"item_id": ["I1"] * 100, "title": ["t"] * 100}), tmp_path / name)
        content = (tmp_path / name).read_bytes()[:-40]
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(SourceError, match=expected) as err:
        ingest_table("items", SourceSpec(path=name, format=fmt), str(tmp_path), CFG, store)
    assert "\n" not in str(err.value)


def test_header_only_csv_is_zero_rows(tmp_path, store):
    (tmp_path / "items.csv").write_text("item_id,title\n")
    m = ingest_table("items", SourceSpec(path="items.csv", format="csv"), str(tmp_path), CFG, store)
    assert m.rows == 0


def test_nul_bytes_survive_as_text(tmp_path, store):
    (tmp_path / "items.csv").write_bytes(b"item_id,title\nI1,red\x00scarf\n")
    m = ingest_table("items", SourceSpec(path="items.csv", format="csv"), str(tmp_path), CFG, store)
    assert _read(m).loc[0, "title"] == "red\x00scarf"  # validation decides what to do with it
