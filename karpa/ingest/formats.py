"""Readers for the layouts public datasets are published in, beside the generic ones.

A generic reader sees one file; some published layouts spread one canonical table over
several files (MNIST's images and labels, MovieLens's movies and tags). Such a format names
the extra files by role in `SourceSpec.with_files`, and its reader gets them, resolved, in a
`ReadContext` together with the table it is asked for. Every reader yields `(batch, first_row)`
like the generic readers (see `readers.py`), and a row that cannot be parsed is kept with its
reason in `_ingest_error`, so that validation quarantines it instead of losing it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import fsspec

from karpa.config import SourceSpec
from karpa.errors import SourceError
from karpa.ingest.idx import read_idx
from karpa.ingest.movielens import read_movielens_100k_items, read_movielens_items
from karpa.ingest.readers import first_line
from karpa.ingest.rows import Batch, ReadContext, RowBuffer
from karpa.ingest.scrub import masked

Reader = Callable[[str, SourceSpec, int, ReadContext], Iterator[Batch]]


@dataclass(frozen=True)
class Format:
    reader: Reader
    tables: tuple[str, ...]
    roles: tuple[str, ...] = ()  # companion files it may read
    required_roles: tuple[str, ...] = ()


def read_clinc_json(
    url: str, spec: SourceSpec, batch_rows: int, ctx: ReadContext
) -> Iterator[Batch]:
    """CLINC150 (`data_full.json` and its siblings): one JSON object whose keys are splits
    (train, val, test, oos_train, ...) and whose values are lists of [text, intent] pairs.

    Ids are `<key>-<n>` (1-based within the key), so the official split stays readable from
    the id (see `SourceSpec.split_from_id`). The file is a single JSON document of a few MB,
    so it is parsed whole; rows still leave in batches.
    """
    with fsspec.open(url, "rb") as f:
        raw = f.read()
    try:
        data = json.loads(raw.decode(spec.encoding))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"{url}: not a CLINC150 JSON file ({first_line(exc)})") from None
    if not isinstance(data, dict):
        raise SourceError(
            f"{url}: expected a JSON object of splits (train, val, test, oos_*), "
            f"got a JSON {type(data).__name__}"
        )
    buffer = RowBuffer(("message_id", "text", "intent"), batch_rows)
    row = 0
    for key, pairs in data.items():
        if not isinstance(pairs, list):
            raise SourceError(
                f"{url}: key {key!r} holds a JSON {type(pairs).__name__}, expected a list of "
                "[text, intent] pairs"
            )
        for index, pair in enumerate(pairs, start=1):
            row += 1
            ok = isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
            error = (
                None
                if ok
                else (
                    f"entry {key}[{index - 1}] is not a [text, intent] pair of strings "
                    f"(got {masked(json.dumps(pair))})"
                )
            )
            batch = buffer.add(
                row,
                error,
                message_id=f"{key}-{index}",
                text=pair[0] if ok else None,
                intent=pair[1] if ok else None,
            )
            if batch:
                yield batch
    if (batch := buffer.flush()) is not None:
        yield batch


def read_at_label(url: str, spec: SourceSpec, batch_rows: int, ctx: ReadContext) -> Iterator[Batch]:
    """`sentence@label` lines (Financial PhraseBank) as columns `text` and `label`.

    The split is on the LAST '@': sentences may contain '@' themselves, labels never do.
    Lines are decoded one at a time with `spec.encoding`, so a bad byte costs one row (kept
    with its reason), not the file. Blank lines are skipped; `_row` stays the line number.
    """
    buffer = RowBuffer(("text", "label"), batch_rows)
    with fsspec.open(url, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                line = raw.decode(spec.encoding).rstrip("\r\n")
            except UnicodeDecodeError as exc:
                batch = buffer.add(
                    line_no,
                    f"line {line_no} is not valid {spec.encoding} "
                    f"({exc.reason} at byte {exc.start})",
                )
                if batch:
                    yield batch
                continue
            if not line.strip():
                # Row numbers are consecutive within a batch: end the batch at a gap.
                if (batch := buffer.flush()) is not None:
                    yield batch
                continue
            text, sep, label = line.rpartition("@")
            label = label.strip()
            error = None
            if not sep:
                error = f"line {line_no} has no '@' between sentence and label"
            elif not label:
                error = f"line {line_no} has an empty label after its last '@'"
            batch = buffer.add(
                line_no,
                error,
                text=text.strip() if sep else line.strip(),
                label=label if sep else None,
            )
            if batch:
                yield batch
    if (batch := buffer.flush()) is not None:
        yield batch


FORMATS: dict[str, Format] = {
    "clinc_json": Format(read_clinc_json, ("messages",)),
    "at_label": Format(read_at_label, ("messages", "news", "items")),
    "idx_images": Format(read_idx, ("images", "items"), ("labels",), ("labels",)),
    "movielens_items": Format(read_movielens_items, ("items",), ("tags",)),
    "movielens_100k_items": Format(read_movielens_100k_items, ("items",), ("genres",), ("genres",)),
}


def check_format(table: str, spec: SourceSpec) -> Format:
    """The format of a dataset-layout source, after checking it fits the table and the
    companion files it was given; one sentence naming the config key otherwise."""
    fmt = FORMATS[spec.format]
    where = f"data.sources.{table}"
    if table not in fmt.tables:
        raise SourceError(
            f"{where}: format {spec.format!r} provides {', '.join(fmt.tables)}, not {table}"
        )
    unknown = sorted(set(spec.with_files) - set(fmt.roles))
    if unknown:
        known = ", ".join(fmt.roles) or "none"
        raise SourceError(
            f"{where}.with_files: {spec.format!r} reads no {unknown[0]!r} file (roles: {known})"
        )
    missing = [r for r in fmt.required_roles if r not in spec.with_files]
    if missing:
        raise SourceError(f"{where}.with_files: {spec.format!r} needs a {missing[0]!r} file")
    return fmt
