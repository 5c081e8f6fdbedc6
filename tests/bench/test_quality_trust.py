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


def _own_report() -> dict:
    def figures(acc: float) -> dict:
        return {
            "metrics": {"accuracy": acc, "macro_f1": acc - 0.01},
            "headline": {"low": acc - 0.02, "high": acc + 0.02},
        }

    curve = [
        {"model": "pretrained", "k": 10, "per_seed": [0.60, 0.62, 0.61], "mode": "full"},
        {"model": "scratch", "k": 10, "per_seed": [0.40, 0.41, 0.43], "mode": "linear_probe"},
        {"model": "tfidf_lr", "k": 10, "per_seed": [0.55, 0.56, 0.57]},
    ]
    return {
        "model_name": "intent-pretrained",
        **figures(0.90),
        "comparisons": {"scratch": figures(0.88), "tfidf_lr": figures(0.89)},
        "learning_curve": curve,
        **_report(0.9, 0.8, 0.12),
    }


def test_one_pipelines_file_reprints_the_own_init_rows_and_their_target(tmp_path, capsys):
    import json

    import quality

    path = tmp_path / "banking77_own-init.json"
    path.write_text(json.dumps({"label": "banking77 own-init", "report": _own_report()}))
    quality.reprint_banking77(path, "python bench/quality.py --tables-from x")
    out = capsys.readouterr().out
    assert "MiniLM" not in out  # no row, no target of a run that did not happen
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows[1:4]] == [
        "karpa, own pretraining (random init)",
        "no pretraining (scratch ablation)",
        "TF-IDF + logistic regression",
    ]
    assert "0.610 ± 0.010" in rows[1]
    # paired: differences 0.20, 0.21, 0.18 -> mean +0.197, above zero
    assert "3 subset seeds (t-interval): +0.197 [" in out and "(reached)" in out
    assert "pretrained full, scratch linear_probe" in out
    assert "0.120 [0.110, 0.130]" in out  # the trust table's deletion area


def test_a_file_without_banking77_is_refused_in_one_sentence(tmp_path):
    import json

    import quality

    path = tmp_path / "other.json"
    path.write_text(json.dumps({"command": "x", "tasks": {"movielens": {}}}))
    with pytest.raises(SystemExit, match="no banking77 task in this result file"):
        quality.reprint_banking77(path, "cmd")
