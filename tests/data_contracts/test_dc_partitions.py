"""Partition by partition gives `validate_table`'s verdict: the same accepted and
quarantined rows, the same reasons, the same outcomes — with bad rows planted in several
partitions, duplicates that straddle partitions, and a cross-table rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_contracts import validate_table
from data_contracts.partitions import (
    check_partition,
    concat_quarantine,
    finish_table,
    split_partition,
    whole_table_columns,
)
from tests.data_contracts.conftest import RECENT, REFERENCE, canonical_frame


def _items(n: int) -> pd.DataFrame:
    rows = []
    for i in range(n):
        row = {
            "item_id": f"I{i:04d}",
            "title": f"item {i}",
            "category": "shoe",
            "created_at": RECENT,
        }
        if i % 7 == 3:
            row["title"] = None  # required
        if i % 11 == 5:
            row["item_id"] = "I0001"  # a later duplicate of an early row, in a later partition
        if i % 13 == 2:
            row["price"] = -4.0  # out of range
        if i == 17:
            row["_source"] = "other.csv"  # a second source, so the per-source counts merge
        rows.append(row)
    return canonical_frame("items", rows)


def _events(n: int, known: np.ndarray) -> pd.DataFrame:
    rows = []
    for i in range(n):
        item = known[i % len(known)] if i % 9 else f"missing-{i}"
        rows.append({"user_id": f"u{i % 5}", "item_id": item, "event_type": "view", "ts": RECENT})
    return canonical_frame("events", rows, source="events.parquet")


def _partitioned(frame: pd.DataFrame, contract, size: int, known=None):
    offsets = list(range(0, len(frame), size)) or [0]
    verdicts = [
        check_partition(
            frame.iloc[o : o + size], contract, offset=o, reference_time=REFERENCE, known=known
        )
        for o in offsets
    ]
    keys = frame[whole_table_columns(contract, frame.columns)]
    verdict = finish_table(contract, verdicts, keys, frame.columns, reference_time=REFERENCE)
    accepted, quarantined = [], []
    for o in offsets:
        part = frame.iloc[o : o + size]
        a, q = split_partition(part, verdict.reasons, o)
        assert len(a) + len(q) == len(part)  # rows add up in every partition
        accepted.append(a)
        quarantined.append(q)
    return (
        verdict,
        pd.concat(accepted, ignore_index=True),
        concat_quarantine(quarantined),
        verdicts,
    )


@pytest.mark.parametrize("size", [1, 16, 50, 1000])
def test_partitions_give_the_whole_table_verdict(contracts, size):
    frame = _items(120)
    whole = validate_table(frame, contracts["items"], reference_time=REFERENCE)
    verdict, accepted, quarantine, parts = _partitioned(frame, contracts["items"], size)

    assert len(whole.quarantine) > 20  # bad rows of three rules, in many partitions
    if size < 120:
        bad = set(quarantine["_row"])
        assert sum(1 for p in parts if bad & set(range(p.offset + 1, p.offset + p.rows + 1))) > 1
    pd.testing.assert_frame_equal(accepted, whole.accepted)
    pd.testing.assert_frame_equal(quarantine, whole.quarantine)
    assert verdict.rows_in == whole.rows_in == len(accepted) + len(quarantine)
    assert verdict.rules == whole.rules  # counts, examples and sources included
    assert verdict.table_rules == whole.table_rules
    duplicate = whole.outcome("item_id_unique")
    assert duplicate.failed > 0
    assert (
        quarantine["reasons"].str.contains("duplicate of items.csv row 2").sum() == duplicate.failed
    )
    assert whole.outcome("title_required").sources == {"items.csv": 16, "other.csv": 1}


def test_cross_table_rule_checks_the_accepted_keys(contracts):
    items = validate_table(_items(60), contracts["items"], reference_time=REFERENCE)
    known = {"items.item_id": items.accepted["item_id"].dropna().unique()}
    events = _events(200, np.array(["I0003", *items.accepted["item_id"].head(5)]))
    whole = validate_table(events, contracts["events"], reference_time=REFERENCE, known=known)
    verdict, accepted, quarantine, _ = _partitioned(events, contracts["events"], 30, known)
    pd.testing.assert_frame_equal(quarantine, whole.quarantine)
    pd.testing.assert_frame_equal(accepted, whole.accepted)
    assert verdict.rules == whole.rules
    # I0003 was quarantined among the items (no title), so its events are too.
    assert quarantine["reasons"].str.contains("item_id_known").sum() > len(events) // 9


def test_an_empty_table_is_one_empty_partition(contracts):
    frame = _items(0)
    whole = validate_table(frame, contracts["items"], reference_time=REFERENCE)
    verdict, accepted, quarantine, _ = _partitioned(frame, contracts["items"], 10)
    assert verdict.table_rules == whole.table_rules
    assert whole.outcome("enough_items").status == "failed"
    assert len(accepted) == len(quarantine) == 0
