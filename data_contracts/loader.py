"""Read contract YAML files into typed `Contract` models, with errors that name file and key."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from pathlib import Path

import yaml
from pydantic import ValidationError

from data_contracts.columns import CANONICAL_TABLES, CONTRACTS_DIR, declared_types
from data_contracts.model import Contract, ContractError
from data_contracts.rules import compile_rules

logger = logging.getLogger(__name__)


def _describe(error: dict) -> str:
    location = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        parent, _, key = location.rpartition(".")
        return f"unknown key {key!r}" + (f" in {parent}" if parent else "")
    return f"{location or '(top level)'}: {error['msg']}"


def _check_against_schema(contract: Contract, source: str) -> None:
    # A contract for a canonical table must describe that table as its packaged contract
    # declares it (the columns ingestion writes); a mismatch here would otherwise surface
    # as a confusing validation failure later.
    if contract.table not in CANONICAL_TABLES:
        raise ContractError(
            f"{source}: table {contract.table!r} is not a canonical table "
            f"({', '.join(CANONICAL_TABLES)})"
        )
    declared = declared_types(contract.table)
    for column, prop in contract.properties.items():
        if column not in declared:
            raise ContractError(
                f"{source}: property {column!r} is not a column of the canonical "
                f"{contract.table!r} table"
            )
        if prop.type != declared[column]:
            raise ContractError(
                f"{source}: property {column!r} has type {prop.type!r} but the canonical "
                f"column is {declared[column]}"
            )


def parse_contract(data: object, source: str = "<contract>") -> Contract:
    """Validate an already-parsed YAML mapping into a `Contract`."""
    if not isinstance(data, dict):
        raise ContractError(f"{source}: a contract must be a mapping at the top level")
    try:
        contract = Contract.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise ContractError(f"{source}: {problems}") from exc
    _check_against_schema(contract, source)
    try:
        # Compiling once here surfaces rules that repeat each other at load time.
        compile_rules(contract, dt.datetime.now(dt.UTC))
    except ContractError as exc:
        raise ContractError(f"{source}: {exc}") from exc
    return contract


def load_contract(table_or_path: str | Path, directory: Path | None = None) -> Contract:
    """Load one contract, by table name (from `directory`, default the packaged ones) or path."""
    path = Path(table_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = (directory or CONTRACTS_DIR) / f"{table_or_path}.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(f"{path}: cannot read contract ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError(f"{path.name}: not valid YAML ({exc})") from exc
    contract = parse_contract(data, source=path.name)
    if path.stem != contract.table:
        raise ContractError(
            f"{path.name}: declares table {contract.table!r}; name the file after it"
        )
    logger.debug("loaded contract %s v%s from %s", contract.table, contract.version, path)
    return contract


def load_contracts(
    directory: Path | None = None, tables: Iterable[str] | None = None
) -> dict[str, Contract]:
    """Load the contracts of `tables` (default: every canonical table) from `directory`."""
    return {table: load_contract(table, directory) for table in (tables or CANONICAL_TABLES)}
