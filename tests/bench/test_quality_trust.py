"""bench/quality.py's Banking77 extras: the trust table read from application reports, and
the paired few-shot gain over subset seeds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _quality_rows import paired_over_seeds
from _quality_trust import sample_size, trust_table


def _record(bucket: str, metric: str, value: float, n: int = 300) -> dict:
    return {
        "slice": "robustness",
        "bucket": bucket,
        "n": n,
        "metric": metric,
        "value": value,
        "low": value - 0.05,
        "high": value + 0.05,
    }


def _report(clean: float, typos: float, area: float | None) -> dict:
    slices = [
        _record("clean", "accuracy", clean),
        _record("typos", "accuracy", typos),
        _record("clean", "macro_f1", 0.1),  # another metric: never in the accuracy table
        {"slice": "length", "bucket": "short", "n": 5, "metric": "accuracy", "value": 0.0},
    ]
    if area is None:
        return {"slices": slices, "explanations": {}}
    explanations = {"area": {"estimate": area, "low": area - 0.01, "high": area + 0.01}}
    return {"slices": slices, "explanations": explanations}


def test_trust_table_lists_each_perturbation_and_the_deletion_area():
    text = trust_table(
        [("own", _report(0.9, 0.8, 0.12)), ("old", _report(0.7, 0.6, None))], "accuracy"
    )
    header, _, own, old = text.splitlines()
    assert "accuracy: clean" in header and "accuracy: typos" in header
    assert "short" not in text and "0.100" not in text
    assert "0.900 [0.850, 0.950]" in own and "0.800 [0.750, 0.850]" in own
    assert own.rstrip(" |").endswith("0.120 [0.110, 0.130]")
    assert old.rstrip(" |").endswith("-")  # no deletion test in that report


def test_sample_size_is_the_clean_bucket_n():
    assert sample_size([("own", _report(0.9, 0.8, 0.1))], "accuracy") == 300
    assert sample_size([("none", {"slices": []})], "accuracy") == 0


def test_paired_over_seeds_is_a_t_interval_of_the_differences():
    mean, low, high = paired_over_seeds([0.5, 0.6, 0.7], [0.4, 0.4, 0.4])
    assert mean == pytest.approx(0.2)
    # t(0.975, 2) = 4.303; sd of (0.1, 0.2, 0.3) = 0.1
    assert (high - mean) == pytest.approx(4.303 * 0.1 / 3**0.5, rel=1e-3)
    assert low == pytest.approx(2 * mean - high)
    assert paired_over_seeds([0.5], [0.25]) == (0.25, 0.25, 0.25)
    with pytest.raises(ValueError, match="paired seeds"):
        paired_over_seeds([0.5, 0.6], [0.4])
