"""Scrub personal data at ingestion, before a byte of the table is written to the store.

Which columns are free text comes from the table's contract (`Contract.scrub_columns`):
every string column that is not an id, a category or a label. The `_ingest_error` column
is scrubbed as well, and the values it quotes are masked before they are cut short (a
truncated card number would no longer be recognised). Counts are kept per column and kind.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from data_contracts.pii import KINDS, scrub_text

# Bump when what is scrubbed, or how, changes: it is part of the ingestion key.
SCRUB_VERSION = "1"
_MAYBE_PII = r"@|\d{2}"  # what every kind needs somewhere in a cell; the rest is skipped

Counts = dict[str, dict[str, int]]  # column -> kind -> replacements


def scrub_columns(table: str, contracts: str | None) -> list[str]:
    """The columns of `table` scrubbed at ingestion (its contract's free text, and errors)."""
    from data_contracts import load_contract

    contract = load_contract(table, Path(contracts) if contracts else None)
    return [*contract.scrub_columns(), "_ingest_error"] if contract.pii.enabled else []


def masked(value: object, limit: int = 60) -> str:
    """A value as an error message may quote it: personal data replaced, then cut short."""
    return scrub_text(str(value))[0][:limit]


def scrub_table(table: pa.Table, columns: list[str], counts: Counts) -> pa.Table:
    """`table` with personal data in `columns` replaced; replacements added to `counts`."""
    for name in columns:
        if name not in table.column_names:
            continue
        values = table[name].combine_chunks()
        if not pa.types.is_string(values.type) or values.null_count == len(values):
            continue
        candidates = pc.fill_null(pc.match_substring_regex(values, _MAYBE_PII), False)
        if not pc.any(candidates).as_py():
            continue
        texts = values.to_pylist()
        column_counts = counts.setdefault(name, dict.fromkeys(KINDS, 0))
        changed = False
        for index in pc.indices_nonzero(candidates).to_pylist():
            new_text, found = scrub_text(texts[index])
            if new_text != texts[index]:
                texts[index] = new_text
                changed = True
            for kind, n in found.items():
                column_counts[kind] += n
        if changed:
            position = table.column_names.index(name)
            table = table.set_column(position, table.field(name), pa.array(texts, pa.string()))
    return table
