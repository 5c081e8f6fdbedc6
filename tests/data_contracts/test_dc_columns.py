"""Column types are declared once, in the contracts; ingestion's Arrow schemas follow them."""

from __future__ import annotations

import pyarrow as pa
import pytest

from data_contracts.columns import ARROW_TYPES, CANONICAL_TABLES, declared_types
from karpa.schema import TABLE_NAMES, TABLES


def test_the_canonical_tables_are_the_contracts():
    assert TABLE_NAMES == CANONICAL_TABLES


@pytest.mark.parametrize("table", CANONICAL_TABLES)
def test_ingestion_schema_is_the_contract_types_then_provenance(table):
    data = [f for f in TABLES[table] if not f.name.startswith("_")]
    assert [(f.name, f.type) for f in data] == [
        (column, ARROW_TYPES[kind]) for column, kind in declared_types(table).items()
    ]
    assert [f.name for f in TABLES[table]][len(data) :] == ["_source", "_row", "_ingest_error"]


def test_contract_types_map_to_arrow_types():
    assert TABLES["news"].field("entities").type == pa.list_(pa.string())
    assert TABLES["images"].field("width").type == pa.int64()
    assert TABLES["events"].field("ts").type == pa.timestamp("us", tz="UTC")


def test_an_unknown_table_is_refused():
    with pytest.raises(KeyError, match="not a canonical table"):
        declared_types("widgets")
