"""Issue 21 item 11: a label outside the run's label set is quarantined with its reason,
instead of silently becoming a new class."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from karpa.config import CONFIGS, IngestConfig, SourceSpec, ValidateConfig, load_config
from karpa.demo.intents import INTENTS
from karpa.errors import ConfigError
from karpa.ingest.stage import ingest_table
from karpa.store import Store
from karpa.validation.stage import validate


def test_unknown_intent_is_quarantined_with_its_reason(tmp_path):
    """An intent outside the run's label set (a typo) is quarantined with the rule and the allowed
    values, not learned as a new class."""
    labels = ["track_order", "refund_status", "refund_staus", None, "track_order"]
    rows = [
        {
            "message_id": f"m{i}",
            "text": "where is my parcel",
            "ts": "2026-02-01T10:00:00Z",
            "intent": label,
        }
        for i, label in enumerate(labels)
    ]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    store = Store(tmp_path / "store")
    tables = {
        "messages": ingest_table(
            "messages",
            SourceSpec(path="m.jsonl", format="jsonl"),
            str(tmp_path),
            IngestConfig(batch_rows=1000),
            store,
        )
    }
    cfg = ValidateConfig(
        reference_time="2026-04-01T00:00:00Z",
        labels={"messages.intent": list(INTENTS)},
        contracts=None,
    )
    m = validate(tables, cfg, store)
    counts = m.counts["messages"]
    assert counts == {"rows_in": 5, "rows_accepted": 4, "rows_quarantined": 1}
    quarantine = pd.read_parquet(Path(m.path) / "quarantine" / "messages.parquet")
    assert quarantine["_row"].tolist() == [3] and quarantine["intent"].tolist() == ["refund_staus"]
    reason = quarantine["reasons"].iat[0]
    assert reason.startswith("intent: intent_allowed (value must be one of the 13 allowed values")
    # Without a label set the typo would have been a class of its own.
    plain = validate(tables, ValidateConfig(reference_time="2026-04-01T00:00:00Z"), store)
    assert plain.counts["messages"]["rows_quarantined"] == 0


def test_presets_declare_their_label_sets():
    """The demo, Banking77 and CLINC150 presets declare their intents, and the news contract its
    sentiments, so a stray label is caught there too."""
    demo = load_config(CONFIGS / "demo.yaml")
    assert tuple(demo.validate_.labels["messages.intent"]) == INTENTS
    banking = load_config(CONFIGS / "real" / "banking77.yaml")
    assert len(set(banking.validate_.labels["messages.intent"])) == 77
    clinc = load_config(CONFIGS / "real" / "clinc150.yaml").validate_.labels["messages.intent"]
    # 150 intents and the out-of-scope label, every one a string (YAML's `no` is not one)
    assert len(set(clinc)) == 151 and "oos" in clinc and {"no", "yes"} <= set(clinc)
    assert all(isinstance(label, str) for label in clinc)
    # The sentiment presets are held by the news contract's own `allowed`.
    from data_contracts import load_contract

    assert load_contract("news").properties["sentiment"].allowed == [
        "negative",
        "neutral",
        "positive",
    ]


def test_label_keys_are_checked_at_resolution():
    """A label set under a misspelt table name is refused in one sentence when the config is
    resolved."""
    with pytest.raises(ConfigError, match=r"validate\.labels: .*'mesages\.intent'"):
        load_config(CONFIGS / "demo.yaml", ["validate.labels={mesages.intent: [a]}"])
