"""Slices: bucket assignment and tidy per-bucket records."""

import numpy as np
import pytest

from karpa.evaluation.slices import (
    by_class,
    by_history_length,
    by_item_popularity,
    by_message_length,
    cold_start,
    integer_buckets,
    slice_metrics,
    slice_table,
)


def test_integer_buckets_inclusive_upper_edges():
    s = integer_buckets([0, 5, 6, 10, 11, 12, 99], edges=(5, 10, 11), name="x")
    assert s.order == ("<=5", "6-10", "11", ">11")
    assert s.labels.tolist() == ["<=5", "<=5", "6-10", "6-10", "11", ">11", ">11"]
    with pytest.raises(ValueError):
        integer_buckets([1], edges=(5, 5), name="x")


def test_message_length_counts_words():
    s = by_message_length(["hi", "one two three four five six", " padded   words "], edges=(5,))
    assert s.name == "message_length"
    assert s.labels.tolist() == ["<=5", ">5", "<=5"]


def test_history_length_and_class():
    assert by_history_length([1, 3, 30]).labels.tolist() == ["<=2", "3-5", ">20"]
    s = by_class(["b", "a", "b"])
    assert s.order == ("a", "b") and s.labels.tolist() == ["b", "a", "b"]


def test_popularity_and_cold_start():
    # 10 items: item 0 most popular (head at 10%), items 5-9 least (tail at 50%).
    counts = np.array([100, 50, 40, 30, 20, 5, 3, 2, 1, 0])
    s = by_item_popularity([0, 1, 4, 5, 9], counts)
    assert s.labels.tolist() == ["head", "mid", "mid", "tail", "tail"]
    c = cold_start([0, 9, 8], counts)
    assert c.labels.tolist() == ["warm", "cold", "warm"]
    assert cold_start([8], counts, min_interactions=2).labels.tolist() == ["cold"]


def test_popularity_ties_share_a_bucket():
    counts = np.array([5, 5, 5, 5])
    assert set(by_item_popularity([0, 1, 2, 3], counts, head=0.25, tail=0.25).labels) == {"mid"}


def test_slice_metrics_tidy_records():
    s = integer_buckets([1, 2, 8, 9, 9], edges=(5, 20), name="len")
    correct = np.array([1, 0, 1, 1, 0.0])
    records = slice_metrics(
        s,
        {"accuracy": correct},
        subset_metrics={"count_correct": lambda idx: correct[idx].sum()},
    )
    # The empty bucket ">20" is left out.
    assert [(r["bucket"], r["metric"], r["n"]) for r in records] == [
        ("<=5", "accuracy", 2),
        ("<=5", "count_correct", 2),
        ("6-20", "accuracy", 3),
        ("6-20", "count_correct", 3),
    ]
    assert records[0]["value"] == pytest.approx(0.5)
    assert records[2]["value"] == pytest.approx(2 / 3)
    assert records[0]["low"] is None and records[0]["slice"] == "len"


def test_slice_metrics_with_intervals_and_table():
    rng = np.random.default_rng(0)
    hits = (rng.random(200) < 0.4).astype(float)
    slicings = [by_history_length(rng.integers(1, 30, 200)), by_class(rng.integers(0, 2, 200))]
    records = slice_table(slicings, {"hr@10": hits}, n_resamples=200)
    assert {r["slice"] for r in records} == {"history_length", "class"}
    for r in records:
        assert r["low"] <= r["value"] <= r["high"]
    assert sum(r["n"] for r in records if r["slice"] == "class") == 200


def test_slice_metrics_rejects_misaligned_values():
    with pytest.raises(ValueError):
        slice_metrics(by_class(["a", "b"]), {"acc": [1.0]})
