"""Read contract YAML files into typed `Contract` models, with errors that name file and key."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import yaml
from pydantic import ValidationError

from data_contracts.model import Contract, ContractError
from data_contracts.rules import compile_rules
from karpa.schema import TABLES

logger = logging.getLogger(__name__)

CONTRACTS_DIR = Path(__file__).resolve().parent


def _describe(error: dict) -> str:
    location = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        parent, _, key = location.rpartition(".")
        return f"unknown key {key!r}" + (f" in {parent}" if parent else "")
    return f"{location or '(top level)'}: {error['msg']}"


def _arrow_matches(column_type: str, arrow_type: pa.DataType) -> bool:
    checks = {
        "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
        "integer": pa.types.is_integer,
        "number": pa.types.is_floating,
        "timestamp": pa.types.is_timestamp,
        "binary": lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t),
        "list": lambda t: pa.types.is_list(t) or pa.types.is_large_list(t),
    }
    return checks[column_type](arrow_type)


def _check_against_schema(contract: Contract, source: str) -> None:
    # A contract for a canonical table must describe that table as ingestion writes it;
    # a mismatch here would otherwise surface as a confusing validation failure later.
    schema = TABLES.get(contract.table)
    if schema is None:
        raise ContractError(
            f"{source}: table {contract.table!r} is not a canonical table ({', '.join(TABLES)})"
        )
    for column, prop in contract.properties.items():
        if column not in schema.names:
            raise ContractError(
                f"{source}: property {column!r} is not a column of the canonical "
                f"{contract.table!r} table"
            )
        arrow_type = schema.field(column).type
        if not _arrow_matches(prop.type, arrow_type):
            raise ContractError(
                f"{source}: property {column!r} has type {prop.type!r} but the canonical "
                f"column is {arrow_type}"
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
    return {table: load_contract(table, directory) for table in (tables or TABLES)}
