"""Robustness slices: clean and perturbed buckets with intervals, labels untouched, and the
gate's view of them."""

from __future__ import annotations

import numpy as np
import pytest

from karpa.evaluation.classification import macro_f1
from karpa.evaluation.perturb import TEXT_PERTURBATIONS
from karpa.evaluation.robustness import (
    gate_slices,
    history_robustness,
    sample_rows,
    text_robustness,
)

KEYWORDS = {"parcel": "track", "refund": "refund", "password": "login"}


def _texts(n: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    words = list(KEYWORDS)
    picks = rng.integers(0, 3, size=n)
    texts = [f"hello, about my {words[p]} for order #{1000 + i}" for i, p in enumerate(picks)]
    return texts, np.array([KEYWORDS[words[p]] for p in picks], dtype=object)


def exact_case(texts: list[str]) -> np.ndarray:
    """A brittle model: knows the keywords only as written in lower case."""
    out = []
    for t in texts:
        hit = [label for word, label in KEYWORDS.items() if word in t]
        out.append(hit[0] if hit else "oos")
    return np.array(out, dtype=object)


def test_records_have_clean_and_every_perturbation_with_intervals():
    texts, y = _texts(120)
    seen_labels = []

    def predict(batch):
        seen_labels.append(len(batch))
        return exact_case(batch)

    records = text_robustness(texts, y.copy(), predict, macro_f1, n_resamples=50, seed=0)
    buckets = list(dict.fromkeys(r["bucket"] for r in records))
    assert buckets == ["clean", *TEXT_PERTURBATIONS]
    assert {r["slice"] for r in records} == {"robustness"}
    by = {(r["bucket"], r["metric"]): r for r in records}
    for bucket in buckets:
        for metric in ("accuracy", "macro_f1"):
            r = by[(bucket, metric)]
            assert r["n"] == 120 and r["low"] <= r["value"] <= r["high"], r
        assert (bucket, "changed") in by
    assert by[("clean", "accuracy")]["value"] == 1.0
    assert by[("clean", "changed")]["value"] == 0.0
    # The brittle model falls apart under casing; numbers do not touch its keywords.
    assert by[("casing", "accuracy")]["value"] == 0.0
    assert by[("casing", "changed")]["value"] == 1.0
    assert by[("numbers", "accuracy")]["value"] == 1.0
    assert by[("numbers", "changed")]["value"] == 1.0
    # Entity swaps without a lexicon change nothing, and say so.
    assert by[("entities", "changed")]["value"] == 0.0
    assert seen_labels == [120] * (1 + len(TEXT_PERTURBATIONS))


def test_gate_view_names_each_perturbation():
    texts, y = _texts(40)
    records = text_robustness(texts, y, exact_case, macro_f1, ("casing", "filler"), n_resamples=0)
    view = gate_slices(records, "accuracy")
    assert view == {"robust:casing": (0.0, 40), "robust:filler": (1.0, 40)}


def test_history_robustness_reports_each_metric_per_variant():
    histories = [[i, i + 1, i + 2] for i in range(30)]

    def score(h):
        # "Hit" when the history still ends with its original last item (order matters).
        last = np.array([x[-1] == x[0] + 2 for x in h], dtype=float)
        return {"ndcg@10": last, "hr@10": last}

    records = history_robustness(histories, score, n_resamples=50, seed=1)
    by = {(r["bucket"], r["metric"]): r["value"] for r in records}
    assert by[("clean", "ndcg@10")] == 1.0
    assert by[("drop_one", "ndcg@10")] == pytest.approx(2 / 3, abs=0.25)
    assert by[("shuffle", "ndcg@10")] < 1.0
    assert by[("drop_one", "changed")] == 1.0
    assert {m for _, m in by} == {"ndcg@10", "hr@10", "changed"}


def test_sample_rows_is_seeded_and_bounded():
    assert sample_rows(10, 0, 0).tolist() == list(range(10))
    assert sample_rows(10, 20, 0).tolist() == list(range(10))
    a, b = sample_rows(1000, 50, 3), sample_rows(1000, 50, 3)
    assert np.array_equal(a, b) and len(a) == 50 and np.all(np.diff(a) > 0)
