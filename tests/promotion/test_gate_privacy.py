"""The gate's privacy policy: ε is recorded for every challenger; under promote.max_epsilon a
challenger above the limit, or trained without DP (ε = ∞), is refused in one sentence that
names the version, its ε and the limit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from karpa.config import CONFIGS, load_config
from karpa.errors import ConfigError
from karpa.promotion.gate import GateRules, decide
from karpa.promotion.stage import gate_rules

BETTER = (np.random.default_rng(1).random(2000) < 0.85).astype(float)
WORSE = (np.random.default_rng(2).random(2000) < 0.70).astype(float)
SPENT = {"epsilon": 7.31, "delta": 1.1e-4}


def _decide(privacy, max_epsilon, champion=WORSE):
    rules = GateRules(n_resamples=500, max_epsilon=max_epsilon)
    return decide(
        "accuracy", BETTER, champion, rules=rules, privacy=privacy, subject="karpa-intent v3"
    )


def test_a_challenger_above_the_limit_is_refused_naming_version_epsilon_and_limit():
    d = _decide(SPENT, max_epsilon=4.0)
    assert not d.promote
    assert d.reason == (
        "refused: karpa-intent v3 spent ε = 7.310 at δ = 0.00011, above the limit "
        "promote.max_epsilon = 4"
    )
    assert d.figures["epsilon"] == 7.31 and d.figures["max_epsilon"] == 4.0


def test_a_challenger_without_dp_is_refused_under_a_limit():
    d = _decide(None, max_epsilon=8.0)
    assert not d.promote
    assert d.reason == (
        "refused: karpa-intent v3 was fine-tuned without differential privacy (ε = ∞), "
        "and promote.max_epsilon allows at most ε = 8"
    )
    assert d.figures["private"] is False and d.figures["epsilon"] is None
    json.dumps(d.figures, allow_nan=False)  # recorded as JSON tags and audit lines


def test_within_the_limit_the_usual_gate_decides_and_epsilon_is_recorded():
    assert _decide(SPENT, max_epsilon=8.0).promote
    refused = _decide(SPENT, max_epsilon=8.0, champion=BETTER)
    assert not refused.promote and "not above the margin" in refused.reason
    assert refused.figures["epsilon"] == 7.31 and refused.figures["private"] is True


def test_without_a_limit_nothing_is_refused_for_privacy():
    d = _decide(None, max_epsilon=None)
    assert d.promote and d.figures["private"] is False and d.figures["max_epsilon"] is None


def test_the_limit_is_per_text_application_and_checked_at_load():
    cfg = load_config(CONFIGS / "demo.yaml", ["promote.max_epsilon={intent: 4}"]).promote
    assert gate_rules(cfg, "intent", 0).max_epsilon == 4.0
    assert gate_rules(cfg, "sentiment", 0).max_epsilon is None
    assert gate_rules(cfg, "recommendation", 0).max_epsilon is None
    with pytest.raises(ConfigError, match="'recommendation' has no private fine-tune"):
        load_config(CONFIGS / "demo.yaml", ["promote.max_epsilon={recommendation: 4}"])
    with pytest.raises(ConfigError, match=r"the limit of sentiment must be > 0, got -1\.0"):
        load_config(CONFIGS / "demo.yaml", ["promote.max_epsilon={sentiment: -1}"])
