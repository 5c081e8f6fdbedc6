"""The canonical tables as markdown, written from the contracts (the one source of column
types): per table its columns, their types, which are required, and what each value must
meet, then the table's own rules with their severity. `karpa data tables` prints it; the
README's "Canonical tables" section is its output.
"""

from __future__ import annotations

from collections.abc import Iterable

from data_contracts.model import Contract, Property
from data_contracts.stop import percent

TYPE_WORDS = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "timestamp": "timestamp (UTC)",
    "binary": "bytes",
    "list": "list of strings",
}


def _constraints(prop: Property) -> str:
    """What a value must meet, in a few words ("1–128 characters; unique")."""
    parts = []
    if prop.unique:
        parts.append("unique")
    if prop.allowed is not None:
        parts.append("one of " + ", ".join(f"`{v}`" for v in prop.allowed))
    low, high = _bound(prop.min), _bound(prop.max)
    if low is not None and high is not None:
        parts.append(f"{low} to {high}")
    elif low is not None:
        parts.append(f"at least {low}")
    elif high is not None:
        parts.append(f"at most {high}")
    unit = "bytes" if prop.type == "binary" else "characters"
    if prop.min_length is not None and prop.max_length is not None:
        parts.append(f"{prop.min_length}–{prop.max_length:,} {unit}")
    elif prop.max_length is not None:
        parts.append(f"at most {prop.max_length:,} {unit}")
    elif prop.min_length is not None:
        parts.append(f"at least {prop.min_length} {unit}")
    if prop.pattern:
        parts.append(f"matches `{prop.pattern}`")
    if prop.format == "json":
        parts.append("a JSON object")
    return "; ".join(parts)


def _bound(value: float | str | None) -> str | None:
    """1000000.0 -> 1,000,000; dates and `now+1d` as written."""
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return None if value is None else str(value)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def table_markdown(contract: Contract) -> str:
    """One table: a heading, the contract's description, columns, then its rules."""
    lines = [f"### `{contract.table}`", ""]
    if contract.description:
        lines += [_cell(contract.description), ""]
    lines += [
        "| column | type | required | values | note |",
        "|---|---|---|---|---|",
    ]
    for name, prop in contract.properties.items():
        required = "yes" if prop.required else "optional"
        note = prop.description or (
            "the label; unlabeled rows leave it empty" if prop.role == "label" else ""
        )
        lines.append(
            f"| `{name}` | {TYPE_WORDS[prop.type]} | {required} | "
            f"{_cell(_constraints(prop))} | {_cell(note)} |"
        )
    if contract.quality:
        lines += ["", "Rules:"]
        for rule in contract.quality:
            text = _cell(rule.description) if rule.description else rule.kind
            lines.append(f"- `{rule.name}` ({rule.severity}): {text}")
    share = contract.max_quarantine_share.table
    lines += ["", f"Quarantine limit: {percent(share)} of the rows (for the table and per rule)."]
    return "\n".join(lines)


def tables_markdown(contracts: Iterable[Contract]) -> str:
    """Every table, in the order given, separated by blank lines."""
    return "\n\n".join(table_markdown(c) for c in contracts) + "\n"
