"""The recommender's slice lines of bench/demo_quality.py, bench/cold_items.py's content
scorer and bench/short_histories.py's cut histories."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from cold_items import profile_scores
from demo_quality import rec_slice_lines
from short_histories import cut_histories, mean_over_runs


def _records(slice_: str, bucket: str, n: int, karpa: float, ease: float) -> list[dict]:
    values = {
        "ndcg@10": karpa,
        "ndcg@10/ease": ease,
        "ndcg@10/item_knn": 0.01,
        "ndcg@10/popularity": 0.02,
        "sampled20/ndcg@10": karpa * 4,
        "sampled20/ndcg@10/ease": ease * 4,
        "delta/ndcg@10/ease": karpa - ease,
        "delta/sampled20/ndcg@10/ease": 4 * (karpa - ease),
    }
    return [
        {"slice": slice_, "bucket": bucket, "n": n, "metric": m, "value": v}
        | {"low": v - 0.01, "high": v + 0.01}
        for m, v in values.items()
    ]


def test_slice_lines_show_karpa_against_ease_and_skip_empty_buckets(tmp_path):
    slices = _records("short_history", "short", 123, 0.05, 0.04)
    slices += _records("item_popularity", "tail", 7, 0.0, 0.0)
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"slices": slices, "protocol": {"sampled": {"n_negatives": 20}}}))
    lines = rec_slice_lines(str(path)).splitlines()
    rows = [line for line in lines if line.startswith("| ") and "users" not in line]
    assert [row.split(" | ")[0] for row in rows] == [
        "| short_history short",
        "| item_popularity tail",
    ]
    short = rows[0].strip("| ").split(" | ")
    assert short[1:6] == ["123", "0.0500", "0.0400", "0.0100", "0.0200"]
    assert short[6] == "+0.0100 [+0.0000, +0.0200]"
    assert short[7:9] == ["0.2000", "0.1600"] and short[9] == "+0.0400 [+0.0300, +0.0500]"
    assert "20 sampled negatives" in lines[0]


def test_profile_scores_are_the_cosine_with_the_mean_history_vector():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])  # (I, D), unit rows
    scores = profile_scores(vectors, [[0], [0, 1]])
    assert scores.shape == (2, 3)
    assert scores[0] == pytest.approx([1.0, 0.0, 0.6])
    mean = np.array([0.5, 0.5]) / np.linalg.norm([0.5, 0.5])
    assert scores[1] == pytest.approx(vectors @ mean)


def test_cut_histories_keep_each_users_last_items_in_order():
    histories = [[5, 6, 7, 8], [3], [1, 2]]
    assert cut_histories(histories, 2) == [[7, 8], [3], [1, 2]]
    assert cut_histories(histories, 1) == [[8], [3], [2]]
    assert cut_histories(histories, None) == histories
    assert histories[0] == [5, 6, 7, 8]  # the split's own lists are left alone


def test_several_saved_models_give_each_user_their_mean():
    runs = [np.array([0.0, 1.0, 0.5]), np.array([1.0, 1.0, 0.0])]
    assert mean_over_runs(runs) == pytest.approx([0.5, 1.0, 0.25])
