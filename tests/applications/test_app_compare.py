"""The bootstrap's fast macro-F1 is the evaluation library's macro-F1, only faster."""

from __future__ import annotations

import numpy as np
import pytest

from karpa.applications.text_compare import compare, fast_macro_f1
from karpa.applications.text_config import TextAppConfig
from karpa.applications.text_runs import Scored, TextRun
from karpa.evaluation.classification import macro_f1


def test_fast_macro_f1_equals_the_library():
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c", "oos"]
    for _ in range(100):
        n = int(rng.integers(1, 50))
        y = np.array(rng.choice([*labels, "unseen"], n), dtype=object)
        pred = np.array(rng.choice(labels, n), dtype=object)
        chosen = list(rng.permutation(labels)[: int(rng.integers(1, 5))])
        assert fast_macro_f1(chosen)(y, pred) == pytest.approx(macro_f1(y, pred, chosen), abs=1e-12)


def test_compare_refuses_a_metric_that_disagrees_with_the_scorer():
    y = np.array(["a", "b", "a", "b"], dtype=object)
    runs = [TextRun("pretrained", "model", np.zeros((4, 2)), np.zeros((4, 2)))]
    scored = {"pretrained": Scored(pred=y.copy(), metrics={"macro_f1": 0.5})}  # really 1.0
    with pytest.raises(RuntimeError, match="bootstrap metric"):
        compare(runs, scored, y, "macro_f1", fast_macro_f1(["a", "b"]), TextAppConfig(), "")
