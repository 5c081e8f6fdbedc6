"""Stream a source file as record batches of its own columns.

Every reader yields `(batch, first_row)` where `batch` is a pyarrow Table of the source's
columns and `first_row` the 1-based row number of its first row in the file, so provenance
survives batching. Readers never hold a whole file in memory (except one image at a time).
A file that cannot be read raises `SourceError` with the file and the problem.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from karpa.config import SourceSpec
from karpa.errors import SourceError
from karpa.errors import first_line as error_first_line

Batch = tuple[pa.Table, int]
CSV_BLOCK_BYTES = 8 << 20


def _csv_header(url: str, spec: SourceSpec) -> list[str]:
    if spec.header:  # a headerless file (MovieLens 100K's u.data): names come from the config
        return list(spec.header)
    with fsspec.open(url, "rb") as f:
        try:
            reader = pacsv.open_csv(
                f,
                read_options=pacsv.ReadOptions(encoding=spec.encoding, block_size=1 << 16),
                parse_options=pacsv.ParseOptions(delimiter=spec.delimiter),
            )
        except pa.ArrowInvalid as exc:
            problem = _csv_problem(url, spec, exc)
            raise SourceError(f"{url}: cannot read as CSV ({problem})") from None
        return reader.schema.names


def read_csv(url: str, spec: SourceSpec, batch_rows: int) -> Iterator[Batch]:
    # Every column is read as text and converted later by canonical type: letting pyarrow
    # infer types from the first block breaks mid-file when a later block disagrees.
    names = _csv_header(url, spec)
    row = 1
    with fsspec.open(url, "rb") as f:
        try:
            reader = pacsv.open_csv(
                f,
                read_options=pacsv.ReadOptions(
                    encoding=spec.encoding,
                    block_size=CSV_BLOCK_BYTES,
                    column_names=list(spec.header) if spec.header else None,
                ),
                parse_options=pacsv.ParseOptions(delimiter=spec.delimiter, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names}, strings_can_be_null=True
                ),
            )
            for record_batch in reader:
                table = pa.Table.from_batches([record_batch])
                yield table, row
                row += table.num_rows
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            bad = _first_undecodable_line(url, spec.encoding)
            if bad is not None:
                line, column, byte = bad
                raise SourceError(
                    f"{url}: line {line} is not valid {spec.encoding} (byte 0x{byte:02x} at "
                    f"column {column}){_encoding_hint(spec) or '; check the encoding'}"
                ) from None
            raise SourceError(
                f"{url}: unreadable CSV after data row {row - 1} "
                f"({_csv_problem(url, spec, exc)}); "
                f"check encoding={spec.encoding!r} and delimiter={spec.delimiter!r}"
            ) from None


def _first_undecodable_line(url: str, encoding: str) -> tuple[int, int, int] | None:
    """(line, column, byte) of the first byte `encoding` cannot decode, or None."""
    with fsspec.open(url, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as exc:
                return line_no, exc.start + 1, raw[exc.start]
            except LookupError:
                return None
    return None


def _column(values: list[Any], as_list: bool) -> pa.Array:
    """One JSON column: a list column keeps lists (a lone scalar becomes a one-item list);
    any other keeps strings and writes other scalars and objects as JSON text. A list in a
    column that is not a list column is nulled here; `_records_to_table` says why."""
    if as_list:
        return pa.array(
            [
                None if v is None else [str(x) for x in v] if isinstance(v, list) else [str(v)]
                for v in values
            ],
            type=pa.list_(pa.string()),
        )
    return pa.array(
        [
            None if v is None or isinstance(v, list) else v if isinstance(v, str) else json.dumps(v)
            for v in values
        ],
        type=pa.string(),
    )


def _records_to_table(
    records: list[dict[str, Any]],
    errors: list[str | None],
    lines: list[int],
    list_columns: frozenset[str] | None,
) -> pa.Table:
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    columns = {}
    for name in names:
        values = [r.get(name) for r in records]
        # Without a canonical type to go by, a column of lists is a list column.
        # A list column of plain strings stays text, split later by its list separator.
        as_list = any(isinstance(v, list) for v in values) and (
            list_columns is None or name in list_columns
        )
        columns[name] = _column(values, as_list)
        if not as_list:
            for i, value in enumerate(values):
                if isinstance(value, list):
                    problem = (
                        f"column {name!r}: a JSON list where a single value is "
                        "expected (rule: one value per cell)"
                    )
                    errors[i] = f"{errors[i]}; {problem}" if errors[i] else problem
    columns["_ingest_error"] = pa.array(errors, type=pa.string())
    columns["_row"] = pa.array(lines, type=pa.int64())
    return pa.table(columns)


def read_jsonl(
    url: str, spec: SourceSpec, batch_rows: int, list_columns: frozenset[str] | None = None
) -> Iterator[Batch]:
    """JSON Lines, one record per non-blank line; `list_columns` are the source columns
    whose canonical type is a list (a list anywhere else quarantines its record); None:
    unknown, a column holding any list is a list column.

    Parsed line by line so that one bad line becomes one row with its reason (and its
    line number) instead of failing the whole file. Each row carries its line number in
    `_row`: blank lines are skipped, so rows and lines part ways after the first one.
    """
    records: list[dict[str, Any]] = []
    errors: list[str | None] = []
    lines: list[int] = []
    with fsspec.open(url, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            lines.append(line_no)
            try:
                value = json.loads(raw.decode(spec.encoding))
                if not isinstance(value, dict):
                    raise ValueError("not a JSON object")
                records.append(value)
                errors.append(None)
            except UnicodeDecodeError as exc:
                records.append({})
                errors.append(
                    f"line {line_no} is not valid {spec.encoding} (byte 0x{raw[exc.start]:02x} "
                    f"at column {exc.start + 1}){_encoding_hint(spec)}"
                )
            except ValueError as exc:
                records.append({})
                errors.append(f"line {line_no} is not a valid JSON object ({first_line(exc)})")
            if len(records) >= batch_rows:
                yield _records_to_table(records, errors, lines, list_columns), lines[0]
                records, errors, lines = [], [], []
    if records:
        yield _records_to_table(records, errors, lines, list_columns), lines[0]


def _encoding_hint(spec: SourceSpec) -> str:
    if spec.encoding.lower().replace("-", "") in ("utf8", "utf8sig"):
        return "; is the file latin-1 (set the source's encoding)?"
    return ""


def read_parquet(url: str, spec: SourceSpec, batch_rows: int) -> Iterator[Batch]:
    row = 1
    with fsspec.open(url, "rb") as f:
        try:
            parquet = pq.ParquetFile(f)
            for record_batch in parquet.iter_batches(batch_size=batch_rows):
                table = pa.Table.from_batches([record_batch])
                yield table, row
                row += table.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(f"{url}: unreadable Parquet ({first_line(exc)})") from None


def read_image_folder(urls: list[str], spec: SourceSpec, batch_rows: int) -> Iterator[Batch]:
    """Images as rows: ids from the file name, raw bytes, and the header's size if readable.

    Decoding is validation's job: an unreadable image is kept here (with null size) so
    that it is quarantined with its reason rather than silently skipped.
    """
    from PIL import Image

    pattern = re.compile(spec.pattern)
    rows: dict[str, list[Any]] = {
        k: []
        for k in ("image_id", "item_id", "bytes", "width", "height", "_source", "_ingest_error")
    }
    # Cap a batch by rows and by bytes: images can be large.
    cap_rows = min(batch_rows, 4096)
    for url in urls:
        name = url.rsplit("/", 1)[-1]
        match = pattern.search(name)
        with fsspec.open(url, "rb") as f:
            data = f.read()
        width = height = None
        try:
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
        except Exception:
            pass
        rows["image_id"].append(name.rsplit(".", 1)[0])
        rows["item_id"].append(match.group("item_id") if match else None)
        rows["bytes"].append(data)
        rows["width"].append(width)
        rows["height"].append(height)
        rows["_source"].append(url)
        rows["_ingest_error"].append(
            None if match else f"file name {name!r} does not match pattern {spec.pattern!r}"
        )
        if len(rows["bytes"]) >= cap_rows:
            yield _image_table(rows), 1
            rows = {k: [] for k in rows}
    if rows["bytes"]:
        yield _image_table(rows), 1


def _image_table(rows: dict[str, list[Any]]) -> pa.Table:
    types = {"bytes": pa.binary(), "width": pa.int32(), "height": pa.int32()}
    return pa.table({k: pa.array(v, type=types.get(k, pa.string())) for k, v in rows.items()})


# pyarrow's CSV parser quotes the offending row after this; the row is the user's data
# (personal, or the first line of a file that should never have been read): cut it.
_ECHOED_ROW = re.compile(r"(Expected \d+ columns?, got \d+)\s*:.*", re.DOTALL)


def first_line(exc: BaseException) -> str:
    """The first line of an error's message, without any source content it quotes."""
    return _ECHOED_ROW.sub(r"\1", error_first_line(exc))


def _csv_problem(url: str, spec: SourceSpec, exc: BaseException) -> str:
    """pyarrow's reason, with the line of a row that has the wrong number of fields."""
    reason = first_line(exc)
    if not _ECHOED_ROW.search(str(exc)):
        return reason
    try:
        with fsspec.open(url, "r", encoding=spec.encoding, newline="") as f:
            reader = csv.reader(f, delimiter=spec.delimiter)
            width = None if not spec.header else len(spec.header)
            for fields in reader:
                width = len(fields) if width is None else width
                if len(fields) != width:
                    return f"line {reader.line_num}: {reason}"
    except (UnicodeDecodeError, csv.Error, LookupError):
        pass
    return reason
