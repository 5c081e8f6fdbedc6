"""Profiles are JSON; drift shows on a shifted dataset and not on a re-sample of the same one."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from data_contracts import compute_drift, profile_table
from data_contracts.drift import categorical_psi, js_distance, numeric_psi

WORDS = [
    "order",
    "refund",
    "parcel",
    "late",
    "broken",
    "colour",
    "size",
    "invoice",
    "thanks",
    "please",
    "help",
    "soon",
]


def _events(frame, n: int, seed: int, shifted: bool = False):
    rng = np.random.default_rng(seed)
    mix = [0.2, 0.2, 0.2, 0.3, 0.1] if shifted else [0.5, 0.3, 0.1, 0.05, 0.05]
    kinds = rng.choice(["view", "click", "cart", "purchase", "rating"], n, p=mix)
    values = rng.gamma(2.0, 30.0 if shifted else 10.0, n)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    rows = [
        {
            "user_id": f"u{rng.integers(500)}",
            "item_id": f"i{rng.integers(200)}",
            "event_type": str(kind),
            "value": float(value),
            "ts": start + dt.timedelta(minutes=int(m)),
            "session_id": f"s{i // 5}",
        }
        for i, (kind, value, m) in enumerate(
            zip(kinds, values, rng.integers(0, 10_000, n), strict=True)
        )
    ]
    return frame("events", rows)


def _messages(frame, n: int, seed: int, shifted: bool = False):
    rng = np.random.default_rng(seed)
    intents = ["refund", "order_status", "complaint", None]
    mix = [0.6, 0.1, 0.1, 0.2] if shifted else [0.2, 0.3, 0.3, 0.2]
    rows = []
    for i in range(n):
        length = int(rng.integers(20, 40) if shifted else rng.integers(3, 12))
        rows.append(
            {
                "message_id": f"m{i}",
                "user_id": None,
                "ts": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                "text": " ".join(rng.choice(WORDS, length)),
                "intent": rng.choice(intents, p=mix),
            }
        )
    return frame("messages", rows)


def test_profiles_are_json_serialisable(frame, event_rows, item_rows, png, reference):
    frames = {
        "events": frame("events", event_rows(20)),
        "items": frame("items", item_rows(5)),
        "messages": _messages(frame, 30, seed=1),
        "news": frame(
            "news",
            [
                {
                    "news_id": "n1",
                    "ts": reference,
                    "headline": "ACME beats estimates",
                    "body": None,
                    "entities": ["ACME", "NYSE:ACM"],
                    "sentiment": "positive",
                },
                {
                    "news_id": "n2",
                    "ts": reference,
                    "headline": "Rates unchanged",
                    "body": "The bank held rates.",
                    "entities": [],
                    "sentiment": None,
                },
            ],
        ),
        "images": frame(
            "images",
            [
                {
                    "image_id": f"x{i}",
                    "item_id": "i",
                    "bytes": png(16 + i, 16),
                    "width": 16 + i,
                    "height": 16,
                }
                for i in range(4)
            ],
        ),
    }
    for table, data in frames.items():
        profile = json.loads(json.dumps(profile_table(data, table), allow_nan=False))
        assert profile["rows"] == len(data)
        assert set(profile["columns"]) <= set(data.columns)
    events = profile_table(frames["events"], "events")
    assert set(events["event_types"]) == {"view", "click", "cart", "purchase", "rating"}
    assert len(events["columns"]["value"]["quantiles"]) == 101
    messages = profile_table(frames["messages"], "messages")
    assert set(messages["labels"]["intent"]) <= {"refund", "order_status", "complaint"}
    assert messages["columns"]["text"]["vocabulary_size"] <= len(WORDS)
    images = profile_table(frames["images"], "images")
    assert images["images"]["width"]["p50"] == pytest.approx(17.5)


def test_no_drift_on_a_resample_of_the_same_data(frame):
    previous = profile_table(_events(frame, 4000, seed=1), "events")
    current = profile_table(_events(frame, 4000, seed=2), "events")
    findings = compute_drift(previous, current)
    assert {f.column for f in findings} >= {"value", "event_type"}
    assert not [f for f in findings if f.drifted]

    prev_msgs = profile_table(_messages(frame, 3000, seed=3), "messages")
    cur_msgs = profile_table(_messages(frame, 3000, seed=4), "messages")
    assert not [f for f in compute_drift(prev_msgs, cur_msgs) if f.drifted]


def test_drift_is_raised_on_a_shifted_dataset(frame):
    previous = profile_table(_events(frame, 4000, seed=1), "events")
    current = profile_table(_events(frame, 4000, seed=2, shifted=True), "events")
    drifted = {f.column: f for f in compute_drift(previous, current) if f.drifted}
    assert {"value", "event_type"} <= set(drifted)
    assert drifted["value"].statistic == "psi"
    assert drifted["value"].value > drifted["value"].threshold == 0.2

    prev_msgs = profile_table(_messages(frame, 3000, seed=3), "messages")
    cur_msgs = profile_table(_messages(frame, 3000, seed=4, shifted=True), "messages")
    drifted = {f.column: f for f in compute_drift(prev_msgs, cur_msgs) if f.drifted}
    assert drifted["intent"].statistic == "js_distance"
    assert "text.length" in drifted


def test_statistics_behave_at_their_edges():
    same = [float(q) for q in np.linspace(0, 100, 101)]
    assert numeric_psi(same, same) == pytest.approx(0.0, abs=1e-9)
    constant = [5.0] * 101
    assert numeric_psi(constant, constant) == pytest.approx(0.0, abs=1e-9)
    assert numeric_psi(constant, [q + 50 for q in same]) > 1.0
    assert categorical_psi({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == 0.0
    assert js_distance({"a": 1.0}, {"b": 1.0}) == pytest.approx(1.0)
    assert js_distance({"a": 0.3, "b": 0.7}, {"a": 0.3, "b": 0.7}) == pytest.approx(0.0)


def test_profiles_of_different_tables_are_not_compared(frame, event_rows, item_rows):
    with pytest.raises(ValueError, match="cannot compare"):
        compute_drift(
            profile_table(frame("events", event_rows(3)), "events"),
            profile_table(frame("items", item_rows(3)), "items"),
        )


def test_vocabulary_counted_a_chunk_at_a_time_is_the_whole_count():
    from data_contracts.profile import _vocabulary

    rng = np.random.default_rng(0)
    words = [w.upper() if i % 2 else w for i, w in enumerate(WORDS * 3)]
    texts = pd.Series(
        [" ".join(rng.choice(words, rng.integers(0, 8))) for _ in range(2_500)] + ["", "  "]
    )
    whole = int(texts.str.lower().str.split().explode().dropna().nunique())
    assert whole == len(WORDS)  # upper and lower case are one word
    assert _vocabulary(texts, chunk=7) == _vocabulary(texts) == whole


def test_a_column_profiled_batch_by_batch_is_the_whole_columns_profile(monkeypatch):
    import pyarrow as pa

    from data_contracts import load_contract
    from data_contracts.profile import ColumnProfile

    # Few texts sampled for the vocabulary, so the sample ends inside a batch.
    monkeypatch.setattr("data_contracts.profile.VOCABULARY_SAMPLE_ROWS", 40)
    rng = np.random.default_rng(1)
    n = 203
    # Labels with tied counts, first seen in an order that is not their sorted order, and
    # more of them than the shares keep (the rest is "__other__").
    labels = [f"l{(i * 7) % 60}" if i % 5 else None for i in range(n)]
    texts = [
        None if i % 11 == 0 else " ".join(rng.choice([*WORDS, "Ünï", "çé"], rng.integers(1, 6)))
        for i in range(n)
    ]
    ids = [f"m{i % 150}" for i in range(n)]
    table = pa.table({"message_id": ids, "text": texts, "intent": labels})
    contract = load_contract("messages")
    whole = profile_table(table.to_pandas(), "messages", contract)["columns"]
    for name in ("message_id", "text", "intent"):
        for size in (1, 7, 64, n):
            column = ColumnProfile(contract.properties[name])
            for batch in table.select([name]).to_batches(max_chunksize=size):
                column.add(batch.column(0))
            assert column.result() == whole[name], (name, size)
            assert json.dumps(column.result()) == json.dumps(whole[name])

    blobs = pa.table({"bytes": [bytes(i % 37) if i % 9 else None for i in range(n)]})
    images = load_contract("images")
    whole = profile_table(blobs.to_pandas(), "images", images)["columns"]["bytes"]
    column = ColumnProfile(images.properties["bytes"])
    for batch in blobs.to_batches(max_chunksize=10):
        column.add(batch.column(0))
    assert column.result() == whole
    with pytest.raises(ValueError, match="not integer"):
        ColumnProfile(images.properties["width"])
