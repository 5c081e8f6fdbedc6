"""The canonical tables as markdown, from the contracts: `karpa data tables` prints every
column with its type and whether it is optional, and the README shows exactly that."""

from __future__ import annotations

from pathlib import Path

from data_contracts import load_contracts
from data_contracts.tables_doc import tables_markdown
from karpa_cli.main import main

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_column_of_every_contract_is_listed_with_type_and_optionality():
    contracts = load_contracts()
    text = tables_markdown(contracts.values())
    for table, contract in contracts.items():
        assert f"### `{table}`" in text
        for name, prop in contract.properties.items():
            required = "yes" if prop.required else "optional"
            assert any(
                line.startswith(f"| `{name}` |") and f"| {required} |" in line
                for line in text.splitlines()
            ), (table, name)
    assert "| `intent` | string | optional |" in text
    assert "| `event_type` | string | yes | one of `view`, `click`" in text
    assert "| `entities` | list of strings | optional |" in text


def test_cli_prints_it_and_the_readme_holds_it_verbatim(capsys):
    assert main(["data", "tables"]) == 0
    printed = capsys.readouterr().out
    assert printed == tables_markdown(load_contracts().values())
    assert printed in README.read_text(encoding="utf-8"), (
        "README's canonical tables differ from the contracts: paste `karpa data tables`"
    )


def test_a_missing_contracts_folder_is_one_sentence(tmp_path, capsys):
    assert main(["data", "tables", "--contracts", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("karpa: error: ") and "cannot read contract" in err
    assert "\n" not in err
