import numpy as np
from sklearn.metrics import f1_score

from karpa.promotion.gate import GateRules, decide

RNG = np.random.default_rng(0)
RULES = GateRules(margin=0.0, floor=0.6, n_resamples=1000)


def _correct(p: float, n: int = 2000, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(float)


def test_promotes_when_clearly_better():
    d = decide("accuracy", _correct(0.85, seed=1), _correct(0.70, seed=2), rules=RULES)
    assert d.promote and d.figures["delta_low"] > 0
    assert d.reason.startswith("promoted: accuracy challenger − champion = +0.1")


def test_refuses_when_worse():
    d = decide("accuracy", _correct(0.70, seed=1), _correct(0.85, seed=2), rules=RULES)
    assert not d.promote and "not above the margin" in d.reason


def test_refuses_when_better_only_within_noise():
    champion = _correct(0.80, seed=3)
    challenger = champion.copy()
    flip = np.random.default_rng(4).choice(len(champion), 6, replace=False)
    challenger[flip] = 1.0  # a handful of extra hits: better, but not beyond noise
    d = decide("accuracy", challenger, champion, rules=RULES)
    assert d.figures["delta"] > 0 and not d.promote


def test_refuses_on_slice_regression():
    slices_new = {"length:<=5": (0.60, 300), "length:>5": (0.95, 1700)}
    slices_old = {"length:<=5": (0.80, 300), "length:>5": (0.85, 1700)}
    d = decide(
        "accuracy",
        _correct(0.9, seed=1),
        _correct(0.8, seed=2),
        rules=RULES,
        challenger_slices=slices_new,
        champion_slices=slices_old,
    )
    assert not d.promote and "slice length:<=5 dropped 0.2000" in d.reason


def test_small_slices_do_not_block():
    d = decide(
        "accuracy",
        _correct(0.9, seed=1),
        _correct(0.8, seed=2),
        rules=RULES,
        challenger_slices={"tiny": (0.0, 5)},
        champion_slices={"tiny": (1.0, 5)},
    )
    assert d.promote


def test_refuses_on_guardrails():
    d = decide(
        "accuracy", _correct(0.9, seed=1), _correct(0.8, seed=2), rules=RULES, latency_p95_ms=900.0
    )
    assert not d.promote and "latency" in d.reason
    d = decide("accuracy", _correct(0.9, seed=1), None, rules=RULES, model_mb=10_000)
    assert not d.promote and "model size" in d.reason


def test_first_version_floor():
    assert decide("accuracy", _correct(0.8), None, rules=RULES).promote
    low = decide("accuracy", _correct(0.3), None, rules=RULES)
    assert not low.promote and "below the floor 0.6000" in low.reason


def test_metric_function_for_macro_f1():
    labels = RNG.integers(0, 3, 1500)
    good = np.where(RNG.random(1500) < 0.9, labels, (labels + 1) % 3)
    poor = np.where(RNG.random(1500) < 0.6, labels, (labels + 1) % 3)

    def macro(y, p):
        return f1_score(y, p, average="macro")

    d = decide("macro_f1", good, poor, rules=RULES, metric_fn=macro, labels=labels)
    assert d.promote and d.figures["challenger"] > d.figures["champion"]
