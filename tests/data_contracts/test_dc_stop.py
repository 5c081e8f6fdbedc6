"""The one stop sentence: none within thresholds, else table, rule, column, rows and path."""

from __future__ import annotations

import yaml

from data_contracts import parse_contract, stop_sentence, validate_table
from data_contracts.loader import CONTRACTS_DIR

KNOWN = {"items.item_id": [f"item-{i}" for i in range(5)]}


def _orphans(event_rows, total: int, orphans: int) -> list[dict]:
    rows = event_rows(total)
    for row in rows[:orphans]:
        row["item_id"] = "ghost"
    return rows


def test_no_sentence_within_thresholds(contracts, frame, event_rows, reference):
    rows = _orphans(event_rows, 100, 5)  # 5% is the threshold, not above it
    result = validate_table(
        frame("events", rows), contracts["events"], reference_time=reference, known=KNOWN
    )
    assert result.rows_quarantined == 5
    assert stop_sentence({"events": result}) is None


def test_rule_above_its_threshold_is_named_in_one_sentence(contracts, frame, event_rows, reference):
    rows = _orphans(event_rows, 10_000, 1_250)
    result = validate_table(
        frame("events", rows), contracts["events"], reference_time=reference, known=KNOWN
    )
    sentence = stop_sentence([result], {"events": "/runs/42/quarantine/events.parquet"})
    assert sentence == (
        "events: rule item_id_known on column item_id quarantined 12.5% of 10,000 rows "
        "(threshold 5%), first at events.csv row 1; "
        "quarantined rows are in /runs/42/quarantine/events.parquet"
    )
    assert sentence.count(".") <= 4  # one sentence: only the path and file name carry dots


def test_per_rule_threshold_overrides_the_table_threshold(frame, event_rows, reference):
    data = yaml.safe_load((CONTRACTS_DIR / "events.yaml").read_text())
    data["max_quarantine_share"] = {"table": 0.5, "rules": {"item_id_known": 0.01}}
    rows = _orphans(event_rows, 100, 3)
    result = validate_table(
        frame("events", rows), parse_contract(data), reference_time=reference, known=KNOWN
    )
    sentence = stop_sentence([result])
    assert "rule item_id_known on column item_id quarantined 3% of 100 rows (threshold 1%)" in (
        sentence
    )
    assert sentence.endswith("quarantined rows are in the events quarantine output")


def test_many_small_rules_together_breach_the_table_threshold(frame, event_rows, reference):
    data = yaml.safe_load((CONTRACTS_DIR / "events.yaml").read_text())
    data["max_quarantine_share"] = {"table": 0.05, "rules": {"item_id_known": 0.5}}
    rows = _orphans(event_rows, 100, 4)
    for row in rows[10:14]:
        row["event_type"] = "hover"
    result = validate_table(
        frame("events", rows), parse_contract(data), reference_time=reference, known=KNOWN
    )
    sentence = stop_sentence([result], {"events": "q/events.parquet"})
    assert sentence.startswith("events: 8% of 100 rows were quarantined by 2 rules")
    assert "(threshold 5%)" in sentence
    assert sentence.endswith("quarantined rows are in q/events.parquet")


def test_warn_rules_never_stop_a_run(frame, event_rows, reference):
    data = yaml.safe_load((CONTRACTS_DIR / "events.yaml").read_text())
    data["quality"][0]["severity"] = "warn"
    rows = _orphans(event_rows, 100, 60)
    result = validate_table(
        frame("events", rows), parse_contract(data), reference_time=reference, known=KNOWN
    )
    assert result.outcome("item_id_known").failed == 60
    assert stop_sentence([result]) is None
