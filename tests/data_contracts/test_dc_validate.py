"""Whole tables: cross-table rules, duplicates, ingestion errors, a corpus of bad values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from data_contracts import (
    ContractError,
    parse_contract,
    stop_sentence,
    validate_table,
    validate_tables,
)
from data_contracts.loader import CONTRACTS_DIR


def test_cross_table_rules_check_accepted_keys(
    contracts, frame, item_rows, event_rows, png, reference
):
    items = item_rows(3)
    items[2]["title"] = None  # item-2 is quarantined, so it is not a known item
    events = event_rows(6, items=4)  # refers to item-0 .. item-3
    images = [
        {"image_id": "a", "item_id": "item-0", "bytes": png(), "width": 16, "height": 16},
        {"image_id": "b", "item_id": "item-9", "bytes": png(), "width": 16, "height": 16},
    ]
    messages = [
        {"message_id": "m1", "user_id": "user-1", "text": "hi", "ts": reference},
        {"message_id": "m2", "user_id": None, "text": "hello", "ts": reference},
        {"message_id": "m3", "user_id": "stranger", "text": "hey", "ts": reference},
    ]
    results = validate_tables(
        {
            "messages": frame("messages", messages),
            "events": frame("events", events),
            "images": frame("images", images),
            "items": frame("items", items),
        },
        contracts,
        reference_time=reference,
    )
    events_out = results["events"].quarantine
    assert sorted(events_out["item_id"]) == ["item-2", "item-3"]
    assert set(events_out["reasons"]) == {"item_id: item_id_known (not found in items.item_id)"}
    assert results["images"].quarantine["image_id"].tolist() == ["b"]
    # A missing user is fine ("when present"); an unknown one is not.
    assert results["messages"].quarantine["message_id"].tolist() == ["m3"]
    assert list(results) == ["messages", "events", "images", "items"]


def test_cross_table_rule_without_its_reference_is_skipped(contracts, frame, event_rows, reference):
    result = validate_table(
        frame("events", event_rows(3)), contracts["events"], reference_time=reference
    )
    outcome = result.outcome("item_id_known")
    assert outcome.status == "skipped"
    assert "items.item_id not available" in outcome.observed
    assert result.rows_quarantined == 0


def test_duplicate_keys_keep_the_first_and_name_it(contracts, frame, item_rows, reference):
    rows = item_rows(5)
    rows[2]["item_id"] = rows[4]["item_id"] = "item-0"
    rows[3]["item_id"] = "item-1"
    result = validate_table(
        frame("items", rows, source="catalogue.csv"), contracts["items"], reference_time=reference
    )
    assert result.accepted["_row"].tolist() == [1, 2]
    assert result.quarantine["_row"].tolist() == [3, 4, 5]
    assert result.quarantine["reasons"].tolist() == [
        "item_id: item_id_unique (duplicate of catalogue.csv row 1)",
        "item_id: item_id_unique (duplicate of catalogue.csv row 2)",
        "item_id: item_id_unique (duplicate of catalogue.csv row 1)",
    ]
    assert result.outcome("item_id_unique").failed == 3


def test_ingest_errors_are_quarantined_with_ingestion_reason(
    contracts, frame, event_rows, reference
):
    rows = event_rows(4)
    rows[1].update(ts=None, _ingest_error="ts: could not parse 'yesterday'")
    result = validate_table(frame("events", rows), contracts["events"], reference_time=reference)
    assert result.quarantine["reasons"].tolist() == [
        "_ingest_error: ingest_error (ts: could not parse 'yesterday'); "
        "ts: ts_required (value is required)"
    ]
    assert result.outcome("ingest_error").engine == "karpa"


def test_every_row_is_accounted_for_on_messy_data(contracts, frame, event_rows, reference):
    rng = np.random.default_rng(7)
    rows = event_rows(400, items=6)
    for row in rows:
        roll = rng.random()
        if roll < 0.1:
            row["event_type"] = "hover"
        elif roll < 0.2:
            row["value"] = -5.0
        elif roll < 0.25:
            row["user_id"] = None
        elif roll < 0.3:
            row["ts"] = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    known = {"items.item_id": [f"item-{i}" for i in range(5)]}
    result = validate_table(
        frame("events", rows), contracts["events"], reference_time=reference, known=known
    )
    assert result.rows_in == 400 == result.rows_accepted + result.rows_quarantined
    assert set(result.accepted["_row"]).isdisjoint(result.quarantine["_row"])
    error_failures = sum(o.failed for o in result.rules if o.severity == "error")
    assert result.rows_quarantined <= error_failures
    assert result.quarantine["reasons"].str.len().gt(0).all()
    # GX's failing rows map back to the right rows even when the input index is not 0..n-1.
    shuffled = (
        frame("events", rows)
        .sample(frac=1.0, random_state=1)
        .set_index(pd.Index(np.arange(1000, 1400)))
    )
    again = validate_table(shuffled, contracts["events"], reference_time=reference, known=known)
    assert sorted(again.quarantine["_row"]) == sorted(result.quarantine["_row"])


def test_bad_value_corpus_each_gets_a_clear_reason(
    contracts, frame, item_rows, event_rows, png, reference
):
    items = item_rows(3)
    items[1]["description"] = "word " * 200_000  # a 1 MB text field
    items[2]["item_id"] = "item-0"  # duplicate key
    item_result = validate_table(
        frame("items", items), contracts["items"], reference_time=reference
    )
    reasons = dict(
        zip(item_result.quarantine["_row"], item_result.quarantine["reasons"], strict=True)
    )
    assert reasons == {
        2: "description: description_length (length must be at most 20,000)",
        3: "item_id: item_id_unique (duplicate of items.csv row 1)",
    }

    events = event_rows(3)
    events[0]["ts"] = dt.datetime(1965, 3, 1, tzinfo=dt.UTC)  # a negative epoch timestamp
    events[1]["ts"] = dt.datetime(2250, 1, 1, tzinfo=dt.UTC)  # far in the future
    event_result = validate_table(
        frame("events", events), contracts["events"], reference_time=reference
    )
    assert event_result.quarantine["_row"].tolist() == [1, 2]
    assert set(event_result.quarantine["reasons"]) == {
        "ts: ts_range (value must be within [1995-01-01T00:00:00+00:00, 2025-06-02T00:00:00+00:00])"
    }

    images = [
        {"image_id": "ok", "item_id": "item-0", "bytes": png(), "width": 16, "height": 16},
        {
            "image_id": "corrupt",
            "item_id": "item-0",
            "bytes": png()[:-20] + b"\x00" * 20,
            "width": 16,
            "height": 16,
        },
        {"image_id": "empty", "item_id": "item-0", "bytes": b"", "width": 16, "height": 16},
        {
            "image_id": "noise",
            "item_id": "item-0",
            "bytes": b"\x89PNG not really",
            "width": 16,
            "height": 16,
        },
    ]
    image_result = validate_table(
        frame("images", images),
        contracts["images"],
        reference_time=reference,
        known={"items.item_id": ["item-0"]},
    )
    reasons = dict(
        zip(image_result.quarantine["image_id"], image_result.quarantine["reasons"], strict=True)
    )
    assert set(reasons) == {"corrupt", "empty", "noise"}
    assert reasons["empty"] == "bytes: image_decodes (empty image (0 bytes))"
    assert reasons["corrupt"].startswith("bytes: image_decodes (undecodable image (")
    assert reasons["noise"].startswith("bytes: image_decodes (undecodable image (")
    assert " at 0x" not in reasons["noise"]  # no memory addresses in reasons


def test_missing_column_stops_the_run(contracts, frame, event_rows, reference):
    events = frame("events", event_rows(3)).drop(columns=["event_type"])
    result = validate_table(events, contracts["events"], reference_time=reference)
    assert result.outcome("columns_present").observed == "missing columns: event_type"
    assert result.outcome("event_type_allowed").status == "skipped"
    assert stop_sentence([result]).startswith("events: rule columns_present failed")


def test_arrow_tables_are_accepted(contracts, event_rows, reference):
    import pyarrow as pa

    from karpa.schema import TABLES

    rows = [{"_source": "e.parquet", "_row": i + 1, **r} for i, r in enumerate(event_rows(3))]
    table = pa.Table.from_pylist(rows, schema=TABLES["events"])
    result = validate_table(table, contracts["events"], reference_time=reference)
    assert result.rows_accepted == 3


def test_a_rule_repeating_another_check_is_refused():
    import yaml

    data = yaml.safe_load((CONTRACTS_DIR / "items.yaml").read_text())
    data["quality"].append(
        {
            "name": "title_again",
            "kind": "not_null",
            "column": "title",
            "severity": "warn",
            "description": "same check as title_required",
        }
    )
    with pytest.raises(ContractError, match="'title_again' repeats the check of rule 'title_requ"):
        parse_contract(data, source="items.yaml")


def test_summary_is_json_serialisable(contracts, frame, item_rows, reference):
    import json

    rows = item_rows(2)
    rows[0]["price"] = -3.0
    result = validate_table(frame("items", rows), contracts["items"], reference_time=reference)
    digest = json.loads(json.dumps(result.summary()))
    assert digest["rows_quarantined"] == 1
    assert digest["contract_fingerprint"] == contracts["items"].fingerprint
