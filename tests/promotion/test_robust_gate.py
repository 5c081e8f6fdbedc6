"""The gate holds robustness slices to the slice bound: a challenger built to be brittle
(right on clean text, lost when the casing changes) is refused, an honest one promoted.
Both answer through a serving-shaped interface (a frame of texts in, labels out), as the
promote stage calls registered models."""

from __future__ import annotations

import numpy as np
import pandas as pd

from karpa.promotion import evidence
from karpa.promotion.evidence import gather
from karpa.promotion.gate import GateRules, decide
from karpa.promotion.robust_evidence import robustness_evidence

KEYWORDS = {"parcel": "track_order", "refund": "refund_status", "password": "account_access"}
RULES = GateRules(margin=0.0, slice_drop=0.05, min_slice_size=30, n_resamples=500)


def _tests(n: int = 300) -> evidence.TestSet:
    rng = np.random.default_rng(0)
    words = list(KEYWORDS)
    picks = rng.integers(0, len(words), size=n)
    texts = [
        f"hello team, question about my {words[p]} for order #{4000 + i}, thanks"
        for i, p in enumerate(picks)
    ]
    truth = np.array([KEYWORDS[words[p]] for p in picks])
    return evidence.TestSet(pd.DataFrame({"text": texts}), truth, np.full(n, "all"))


def _keyword_model(case_sensitive: bool, miss_every: int = 0):
    """Labels by keyword; `miss_every` > 0 answers wrongly for every such text (by id)."""

    def predict(frame: pd.DataFrame) -> pd.DataFrame:
        labels = []
        for text in frame["text"]:
            seen = text if case_sensitive else text.lower()
            hits = [label for word, label in KEYWORDS.items() if word in seen]
            label = hits[0] if hits else "oos"
            digits = "".join(c for c in text if c.isdigit())
            if miss_every and digits and int(digits[:4]) % miss_every == 0:
                label = "oos"
            labels.append(label)
        return pd.DataFrame({"label": labels})

    return predict


def _judge(challenger, champion, tests: evidence.TestSet):
    new, old = gather("intent", challenger, tests), gather("intent", champion, tests)
    new.slices.update(robustness_evidence("intent", challenger, tests, None, 200, 0))
    old.slices.update(robustness_evidence("intent", champion, tests, None, 200, 0))
    decision = decide(
        "accuracy",
        new.values,
        old.values,
        challenger_slices=new.slices,
        champion_slices=old.slices,
        rules=RULES,
    )
    return decision, new, old


def test_brittle_challenger_is_refused_on_a_robustness_slice():
    tests = _tests()
    champion = _keyword_model(case_sensitive=False, miss_every=4)  # honest, weaker
    brittle = _keyword_model(case_sensitive=True)  # perfect on clean text
    decision, new, old = _judge(brittle, champion, tests)
    assert new.values.mean() == 1.0 and old.values.mean() < 0.85
    assert new.slices["robust:casing"][0] < 0.1 < old.slices["robust:casing"][0]
    assert not decision.promote
    assert decision.figures["slice"] == "robust:casing"
    assert decision.reason.startswith("refused: slice robust:casing dropped")


def test_honest_challenger_is_promoted():
    tests = _tests()
    champion = _keyword_model(case_sensitive=False, miss_every=4)
    honest = _keyword_model(case_sensitive=False)
    decision, new, old = _judge(honest, champion, tests)
    for name, (value, n) in new.slices.items():
        if name.startswith("robust:"):
            assert n == 200 and value >= old.slices[name][0] - RULES.slice_drop, name
    assert decision.promote, decision.reason


def test_no_sample_no_robustness_slices():
    assert robustness_evidence("intent", _keyword_model(False), _tests(), None, 0, 0) == {}


def test_recommendation_slices_drop_one_and_shuffle():
    histories = [[f"I{i}", f"I{i + 1}", f"I{i + 2}"] for i in range(40)]
    truth = np.array([f"I{i + 3}" for i in range(40)])
    requests = pd.DataFrame({"history": histories, "k": 10})
    tests = evidence.TestSet(requests, truth, np.full(40, "all"))

    def next_of_last(frame: pd.DataFrame) -> pd.DataFrame:
        # Recommends the item after the last one: order matters, as for a sequence model.
        return pd.DataFrame({"items": [[f"I{int(h[-1][1:]) + 1}"] for h in frame["history"]]})

    slices = robustness_evidence("recommendation", next_of_last, tests, None, 100, 0)
    assert set(slices) == {"robust:drop_one", "robust:shuffle"}
    assert slices["robust:drop_one"][1] == 40
    assert 0.0 < slices["robust:shuffle"][0] < 1.0
    assert gather("recommendation", next_of_last, tests).values.mean() == 1.0
