"""Issue 21 item 1: planted personal data never reaches anything written under the home.

Every source kind (CSV, JSONL, Parquet) and every free-text column of items, messages and
news carries planted emails, phone numbers, cards and IBANs, some of them in rows that are
quarantined, some in values that cannot be parsed (so that `_ingest_error` would quote
them). After ingest and validate, nothing written holds a planted value: not the store's
raw tables, not the accepted or quarantined tables, not the report. The end-to-end test
does the same through the retrain flow and also greps the MLflow and Prefect stores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from karpa.config import IngestConfig, SourceSpec, ValidateConfig
from karpa.demo.pii import planted_set
from karpa.ingest.stage import ingest_table
from karpa.store import Store
from karpa.validation.stage import validate

TEXT = {
    "items": ["title", "description", "attributes"],
    "messages": ["text"],
    "news": ["headline", "body"],
}
REFERENCE = "2026-04-01T00:00:00Z"


def _frames(n: int = 40) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """One frame per table with PII in every text column; the values planted."""
    planted = [p for p in planted_set(n * 10, seed=11) if p[0]]
    texts = iter(planted)
    values: list[str] = []

    def text() -> str:
        _, value, said = next(texts)
        values.append(value)
        return said

    ts = [f"2026-02-{1 + i % 27:02d}T10:00:00Z" for i in range(n)]
    items = pd.DataFrame(
        {
            "item_id": [f"I{i}" for i in range(n)],
            "title": [text() for _ in range(n)],
            "description": [text() for _ in range(n)],
            "attributes": [json.dumps({"note": text()}) for _ in range(n)],
            "category": ["scarf"] * n,
            "price": ["12.50"] * n,
            "created_at": ts,
        }
    )
    messages = pd.DataFrame(
        {
            "message_id": [f"M{i}" for i in range(n)],
            "text": [text() for _ in range(n)],
            "ts": ts,
            "intent": ["refund", "delivery"] * (n // 2),
        }
    )
    news = pd.DataFrame(
        {
            "news_id": [f"N{i}" for i in range(n)],
            "ts": ts,
            "headline": [text() for _ in range(n)],
            "body": [text() for _ in range(n)],
            "entities": ["AAPL|MSFT"] * n,
            "sentiment": ["positive", "negative"] * (n // 2),
        }
    )
    # Values that cannot be parsed quote themselves in `_ingest_error`; a duplicate id and
    # an empty text are quarantined with the whole row.
    leak = text()
    items.loc[0, "price"] = leak
    messages.loc[1, "ts"] = text()
    news.loc[2, "ts"] = text()
    messages.loc[3, "message_id"] = "M4"
    items.loc[5, "item_id"] = None
    return {"items": items, "messages": messages, "news": news}, values


def _write(frame: pd.DataFrame, folder: Path, table: str, fmt: str) -> SourceSpec:
    path = folder / f"{table}.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    separator = {"entities": "|"} if table == "news" else {}
    return SourceSpec(path=path.name, format=fmt, list_separator=separator)


def leaks(folder: Path, values: list[str]) -> list[str]:
    """`file: value` for every planted value found in any file under `folder` (Parquet is
    read, since its pages are compressed; every other file is searched byte for byte)."""
    found = []
    needles = [(v, v.encode()) for v in values]
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            text = "\n".join(
                str(v)
                for name in table.column_names
                if not pa.types.is_binary(table[name].type)
                for v in table[name].to_pylist()
                if v is not None
            )
            found += [f"{path}: {v}" for v, _ in needles if v in text]
        else:
            data = path.read_bytes()
            found += [f"{path}: {v}" for v, raw in needles if raw in data]
    return found


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_no_planted_value_is_written_anywhere(tmp_path, fmt):
    """Emails, phones, cards and IBANs planted in every text column of CSV, JSONL and Parquet
    sources appear in nothing ingest and validate write."""
    frames, values = _frames()
    data = tmp_path / "data"
    data.mkdir()
    store = Store(tmp_path / "home" / "store")
    specs = {t: _write(f, data, t, fmt) for t, f in frames.items()}
    tables = {
        t: ingest_table(t, s, str(data), IngestConfig(batch_rows=1000), store)
        for t, s in specs.items()
    }
    # Every table's planted values were found, per column.
    for table, columns in TEXT.items():
        assert set(columns) <= set(tables[table].pii), (table, tables[table].pii)
        assert all(sum(tables[table].pii[c].values()) > 0 for c in columns)
    m = validate(tables, ValidateConfig(reference_time=REFERENCE), store)
    assert leaks(tmp_path / "home", values) == []
    assert len(leaks(data, values)) == len(values)  # the search finds what is there
    for table, frame in frames.items():
        counts = m.counts[table]
        assert (
            counts["rows_in"] == len(frame) == counts["rows_accepted"] + counts["rows_quarantined"]
        )
        assert counts["rows_quarantined"] >= 1
        assert m.pii[table] and sum(m.pii[table].values()) > 0
        assert m.pii_columns[table].keys() >= set(TEXT[table])
    # Reported per column, in the report and in the run's markdown summary.
    report = Path(m.report).read_text()
    assert "Personal data scrubbed" in report and "<th>column</th>" in report
    assert " in description" in m.summary_markdown and " in attributes" in m.summary_markdown
    quarantine = pd.read_parquet(Path(m.path) / "quarantine" / "items.parquet")
    reason = quarantine.loc[quarantine["_row"] == 1, "reasons"].iat[0]
    assert "column 'price'" in reason and "is not a number" in reason
    # Ids, categories and labels are codes, not text: never rewritten.
    accepted = pd.read_parquet(m.accepted["news"].path)
    assert set(accepted["sentiment"]) == {"positive", "negative"}
    assert all(list(e) == ["AAPL", "MSFT"] for e in accepted["entities"])


def _prefect_database() -> Path | None:
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
    url = str(url.get_secret_value() if hasattr(url, "get_secret_value") else url or "")
    return Path(url.split("///", 1)[1]) if url.startswith("sqlite") and "///" in url else None


@pytest.mark.slow
def test_no_planted_value_after_a_run_through_validate(prefect_api, home, tmp_path):
    """After a whole run through validate, no planted personal value is in the store, the MLflow
    store or the Prefect database."""
    from flows.retrain import retrain

    frames, values = _frames(n=80)
    data = tmp_path / "data"
    data.mkdir()
    kinds = {"items": "csv", "messages": "jsonl", "news": "parquet"}
    sources = {
        t: _write(f, data, t, kinds[t]).model_dump(exclude_defaults=True) for t, f in frames.items()
    }
    preset = tmp_path / "preset.yaml"
    preset.write_text(
        json.dumps(
            {
                "name": "pii",
                "until": "validate",
                "data": {"root": str(data), "sources": sources},
                "validate": {"reference_time": REFERENCE},
            }
        )
    )
    result = retrain(config=str(preset))
    for table, counts in result["validate"].items():
        assert (
            counts["rows_in"]
            == len(frames[table])
            == counts["rows_accepted"] + counts["rows_quarantined"]
        )
    written = {p.name for p in home.root.rglob("*") if p.is_file()}
    assert {"report.html", "items.csv", "messages.csv", "news.csv", "mlflow.db"} <= written
    assert leaks(home.root, values) == []
    database = _prefect_database()
    assert database is not None and database.is_file()
    assert leaks(database.parent, values) == []
