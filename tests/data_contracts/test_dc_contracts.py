"""Contracts as data: loading, refusing typos, agreeing with the canonical schema, fingerprint."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from data_contracts import ContractError, load_contract, parse_contract
from data_contracts.loader import CONTRACTS_DIR
from data_contracts.rules import compile_rules
from karpa.schema import TABLE_NAMES, canonical_columns


def _raw(table: str) -> dict:
    return yaml.safe_load((CONTRACTS_DIR / f"{table}.yaml").read_text())


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_every_canonical_table_has_a_contract_covering_its_columns(contracts, table):
    contract = contracts[table]
    assert contract.table == table
    assert list(contract.properties) == canonical_columns(table)
    assert all(rule.description for rule in contract.quality)


def test_pii_is_on_by_default_for_the_free_text_columns(contracts):
    scrubbed = {
        f"{t}.{c}"
        for t, contract in contracts.items()
        if contract.pii.enabled
        for c in contract.pii.columns
    }
    assert scrubbed == {"messages.text", "news.headline", "news.body", "items.description"}


def test_unknown_key_is_refused_naming_file_and_key(tmp_path):
    data = _raw("items")
    data["properties"]["item_id"]["requird"] = True
    path = tmp_path / "items.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        ContractError, match=r"items\.yaml: unknown key 'requird' in properties\.item_id"
    ):
        load_contract(path)


def test_unknown_key_in_a_quality_rule_is_refused():
    data = _raw("events")
    data["quality"][0]["refrence"] = "items.item_id"
    with pytest.raises(ContractError, match=r"events\.yaml: unknown key 'refrence' in quality\.0"):
        parse_contract(data, source="events.yaml")


@pytest.mark.parametrize(
    ("table", "change", "message"),
    [
        (
            "messages",
            lambda d: d["properties"]["user_id"].update(type="integer"),
            "column is string",
        ),
        ("items", lambda d: d["properties"].update(colour={"type": "string"}), "not a column of"),
        ("items", lambda d: d["properties"]["price"].update(min_length=1), "string or binary"),
        ("items", lambda d: d["properties"]["price"].update(format="json"), "need a string column"),
        ("items", lambda d: d.update(table="widgets"), "not a canonical table"),
        ("items", lambda d: d["quality"].append(dict(d["quality"][0])), "names must be unique"),
        ("items", lambda d: d["properties"]["created_at"].update(max="tomorrow"), "now\\+1d"),
        ("items", lambda d: d["max_quarantine_share"].update(rules={"nope": 0.1}), "unknown rules"),
        ("items", lambda d: d["pii"].update(columns=["price"]), "not a string property"),
        ("events", lambda d: d["quality"][2].update(max_age="a month"), "not a duration"),
        ("events", lambda d: d["quality"][0].update(column="colour"), "unknown column 'colour'"),
    ],
)
def test_inconsistent_contracts_are_refused(table, change, message):
    data = _raw(table)
    change(data)
    with pytest.raises(ContractError, match=message):
        parse_contract(data, source=f"{table}.yaml")


def test_fingerprint_ignores_spelling_but_not_content(tmp_path):
    original = load_contract("items")
    text = (CONTRACTS_DIR / "items.yaml").read_text()
    respelled = tmp_path / "items.yaml"
    respelled.write_text("# a new comment\n" + yaml.safe_dump(yaml.safe_load(text), sort_keys=True))
    assert load_contract(respelled).fingerprint == original.fingerprint

    bumped = _raw("items")
    bumped["version"] = "1.0.1"
    assert parse_contract(bumped).fingerprint != original.fingerprint
    tightened = _raw("items")
    tightened["properties"]["title"]["max_length"] = 499
    assert parse_contract(tightened).fingerprint != original.fingerprint


def test_property_checks_become_named_rules(contracts, reference):
    names = {rule.name: rule for rule in compile_rules(contracts["events"], reference)}
    assert {"user_id_required", "event_type_allowed", "ts_range", "item_id_known"} <= set(names)
    assert names["ts_range"].engine == "great_expectations"
    assert names["item_id_known"].engine == "karpa"
    # `now+1d` is resolved against the reference time, not the wall clock.
    assert names["ts_range"].params["max"].to_pydatetime() == reference.replace(day=2)


def test_library_imports_neither_prefect_nor_mlflow():
    package = Path(CONTRACTS_DIR)
    imported = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    assert not imported & {"prefect", "mlflow"}
