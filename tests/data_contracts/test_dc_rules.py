"""Every rule kind, with both severities: `error` quarantines the row, `warn` only reports."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from data_contracts import parse_contract, stop_sentence, validate_table
from karpa.schema import TABLES, canonical_columns

_TYPES = {
    pa.types.is_string: "string",
    pa.types.is_integer: "integer",
    pa.types.is_floating: "number",
    pa.types.is_timestamp: "timestamp",
    pa.types.is_binary: "binary",
    pa.types.is_list: "list",
}


def bare_contract(table: str, quality: list[dict], properties: dict | None = None):
    """A contract with typed columns and nothing else but the given rules."""
    props = {}
    for column in canonical_columns(table):
        arrow_type = TABLES[table].field(column).type
        props[column] = {"type": next(t for check, t in _TYPES.items() if check(arrow_type))}
        props[column].update((properties or {}).get(column, {}))
    return parse_contract({"version": "1", "table": table, "properties": props, "quality": quality})


ROW_CASES = {
    # name: (table, rule spec, column of the bad value, bad value)
    "not_null": ("items", {"kind": "not_null", "column": "title"}, "title", None),
    "unique": ("items", {"kind": "unique", "column": "item_id"}, "item_id", "item-0"),
    "in_set": (
        "items",
        {"kind": "in_set", "column": "category", "values": ["kitchen"]},
        "category",
        "garden",
    ),
    "between_number": (
        "items",
        {"kind": "between", "column": "price", "min": 0, "max": 100},
        "price",
        -1.0,
    ),
    "between_timestamp": (
        "items",
        {"kind": "between", "column": "created_at", "min": "2000-01-01", "max": "now+1d"},
        "created_at",
        dt.datetime(2999, 1, 1, tzinfo=dt.UTC),
    ),
    "length": (
        "items",
        {"kind": "length", "column": "title", "min": 1, "max": 20},
        "title",
        "x" * 21,
    ),
    "pattern": (
        "items",
        {"kind": "pattern", "column": "item_id", "regex": r"^item-\d+$"},
        "item_id",
        "ITEM 7",
    ),
    "json": ("items", {"kind": "json", "column": "attributes"}, "attributes", "{not json"),
    "known_in": (
        "events",
        {"kind": "known_in", "column": "item_id", "reference": "items.item_id"},
        "item_id",
        "ghost",
    ),
}


def _rows(table, item_rows, event_rows, count=4):
    return item_rows(count) if table == "items" else event_rows(count)


@pytest.mark.parametrize("severity", ["error", "warn"])
@pytest.mark.parametrize("case", sorted(ROW_CASES))
def test_row_rule(case, severity, frame, item_rows, event_rows, reference):
    table, spec, column, bad = ROW_CASES[case]
    rule = {"name": "the_rule", "severity": severity, "description": "under test", **spec}
    rows = _rows(table, item_rows, event_rows)
    rows[2][column] = bad
    known = {"items.item_id": [f"item-{i}" for i in range(5)]}
    result = validate_table(
        frame(table, rows), bare_contract(table, [rule]), reference_time=reference, known=known
    )

    outcome = result.outcome("the_rule")
    assert (outcome.status, outcome.failed, outcome.severity) == ("failed", 1, severity)
    assert outcome.examples[0]["row"] == 3
    assert result.rows_in == result.rows_accepted + result.rows_quarantined == 4
    if severity == "error":
        assert result.quarantine["_row"].tolist() == [3]
        assert result.quarantine["reasons"].iat[0].startswith(f"{column}: the_rule (")
    else:
        assert result.rows_quarantined == 0


@pytest.mark.parametrize("severity", ["error", "warn"])
def test_property_constraints_take_the_property_severity(severity, frame, item_rows, reference):
    contract = bare_contract("items", [], {"price": {"max": 10, "severity": severity}})
    rows = item_rows(3)  # prices 9.5, 10.5, 11.5
    result = validate_table(frame("items", rows), contract, reference_time=reference)
    assert result.outcome("price_range").failed == 2
    assert result.rows_quarantined == (2 if severity == "error" else 0)


@pytest.mark.parametrize("severity", ["error", "warn"])
def test_image_rule(severity, frame, png, reference):
    rule = {"name": "decodes", "kind": "image", "severity": severity, "description": "decodes"}
    rows = [
        {"image_id": f"img-{i}", "item_id": "item-0", "bytes": png(), "width": 16, "height": 16}
        for i in range(3)
    ]
    rows[1]["bytes"] = png()[:40]
    result = validate_table(
        frame("images", rows), bare_contract("images", [rule]), reference_time=reference
    )
    assert result.outcome("decodes").failed == 1
    assert result.rows_quarantined == (1 if severity == "error" else 0)


TABLE_CASES = {
    "row_count": ("items", {"kind": "row_count", "min": 10}),
    "freshness": ("items", {"kind": "freshness", "column": "created_at", "max_age": "1h"}),
    "label_distribution": (
        "messages",
        {"kind": "label_distribution", "column": "intent", "max_share": 0.5},
    ),
}


@pytest.mark.parametrize("severity", ["error", "warn"])
@pytest.mark.parametrize("case", sorted(TABLE_CASES))
def test_table_rule(case, severity, frame, item_rows, reference):
    table, spec = TABLE_CASES[case]
    rule = {"name": "the_rule", "severity": severity, "description": "under test", **spec}
    if table == "messages":
        rows = [
            {
                "message_id": f"m{i}",
                "text": "where is my order",
                "ts": reference,
                "intent": "order_status" if i else "refund",
            }
            for i in range(4)
        ]
    else:
        rows = item_rows(4)
    result = validate_table(
        frame(table, rows), bare_contract(table, [rule]), reference_time=reference
    )

    outcome = result.outcome("the_rule")
    assert (outcome.level, outcome.status) == ("table", "failed")
    assert outcome.observed
    assert result.rows_quarantined == 0  # table rules never quarantine rows
    sentence = stop_sentence([result])
    if severity == "error":
        assert sentence.startswith(f"{table}: rule the_rule")
        assert "failed" in sentence
    else:
        assert sentence is None


def test_table_rules_pass_on_good_data(frame, item_rows, reference):
    rules = [
        {"name": "rows", "kind": "row_count", "min": 1, "max": 10},
        {"name": "fresh", "kind": "freshness", "column": "created_at", "max_age": "7d"},
    ]
    rules = [{"severity": "error", "description": "x", **rule} for rule in rules]
    result = validate_table(
        frame("items", item_rows(4)), bare_contract("items", rules), reference_time=reference
    )
    assert [o.status for o in result.table_rules] == ["passed", "passed", "passed"]
