"""Registration is idempotent: a retried promote task finds the version it made, and a
decision already recorded on a version stands (no duplicate version, no second audit)."""

from __future__ import annotations

from karpa.promotion.gate import Decision
from karpa.promotion.stage import decide_once
from karpa.tracking.registry import CHALLENGER, Registry, history


def _registry(home) -> Registry:
    return Registry(home.tracking_uri, home.root / "audit.jsonl")


def test_a_retry_finds_the_version_it_registered(home, tmp_path):
    registry = _registry(home)
    key = {"karpa.pipeline_run": "run-1", "karpa.application": "intent"}
    uri = (tmp_path / "model").as_uri()
    first = registry.register("karpa-intent", uri, None, {"karpa.views": "v"}, key=key)
    again = registry.register("karpa-intent", uri, None, {"karpa.views": "v"}, key=key)
    assert first == again == "1"
    versions = registry.client.search_model_versions("name = 'karpa-intent'")
    assert [str(v.version) for v in versions] == ["1"]
    assert versions[0].tags["karpa.pipeline_run"] == "run-1"
    assert registry.alias_version("karpa-intent", CHALLENGER) == "1"

    other = registry.register(
        "karpa-intent", uri, None, {}, key={**key, "karpa.pipeline_run": "run-2"}
    )
    assert other == "2"
    assert registry.find_version("karpa-intent", key) == "1"
    assert registry.find_version("karpa-intent", {"karpa.pipeline_run": "nope"}) is None
    assert registry.find_version("karpa-unknown", key) is None


def test_without_a_key_every_call_registers(home, tmp_path):
    registry = _registry(home)
    uri = (tmp_path / "model").as_uri()
    assert registry.register("karpa-sentiment", uri, None, {}) == "1"
    assert registry.register("karpa-sentiment", uri, None, {}) == "2"


def test_a_recorded_decision_is_not_judged_or_recorded_twice(home, tmp_path):
    registry = _registry(home)
    version = registry.register(
        "karpa-intent", (tmp_path / "m").as_uri(), None, {}, key={"karpa.pipeline_run": "run-1"}
    )
    judged = []

    def judge() -> Decision:
        judged.append(1)
        return Decision(True, "promoted: first version", {"challenger": 0.9})

    first = decide_once(registry, "karpa-intent", version, judge)
    second = decide_once(registry, "karpa-intent", version, judge)
    assert len(judged) == 1
    assert (
        first
        == second
        == {"promote": True, "reason": "promoted: first version", "figures": {"challenger": 0.9}}
    )
    decisions = [
        e for e in history(home.root / "audit.jsonl", "karpa-intent") if e["event"] == "decision"
    ]
    assert len(decisions) == 1
    assert registry.alias_version("karpa-intent", "champion") == version
