"""MovieLens catalogues as items with text, assembled from the files GroupLens publishes.

- `movielens_items` (ml-latest, ml-latest-small, ml-25m ...): `movies.csv` (movieId, title,
  genres joined by '|') plus, optionally, `tags.csv` (userId, movieId, tag, timestamp) named
  in `with_files.tags`.
- `movielens_100k_items` (ml-100k): `u.item` ('|'-separated, no header: id, title, release
  date, video release date, IMDb URL, then one 0/1 flag per genre) plus `u.genre` (name|index)
  named in `with_files.genres`.

Each movie becomes one item: its title, a description built from its genres and the tags
users gave it (the only free text MovieLens has), its first genre as category, and genres,
year and release date as JSON attributes. Tags are read whole (one small file, keyed by
movie); movies stream in batches.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv

from karpa.config import SourceSpec
from karpa.errors import SourceError
from karpa.ingest.readers import first_line, read_csv
from karpa.ingest.rows import Batch, ReadContext, RowBuffer

ITEM_COLUMNS = ("item_id", "title", "description", "category", "attributes")
NO_GENRES = "(no genres listed)"
UNKNOWN = "unknown"
# Most-applied tags first, and no more than this: a popular movie in the full MovieLens
# has thousands of tag applications, and the text tower truncates long descriptions anyway.
MAX_TAGS = 30
YEAR = re.compile(r"\((\d{4})\)\s*$")


def describe(genres: list[str], tags: list[str]) -> str:
    """The item description: what MovieLens knows about a movie, in words."""
    parts = [f"Genres: {', '.join(genres)}." if genres else "Genres: none listed."]
    if tags:
        parts.append(f"Tags: {', '.join(tags)}.")
    return " ".join(parts)


def _attributes(genres: list[str], title: str | None, **extra: str) -> str:
    found = YEAR.search(title or "")
    values: dict[str, object] = {"genres": genres}
    if found:
        values["year"] = int(found.group(1))
    values.update({k: v for k, v in extra.items() if v})
    return json.dumps(values, ensure_ascii=False)


def read_tags(url: str, encoding: str = "utf-8") -> dict[str, list[str]]:
    """movieId -> its distinct tags (case-insensitively), most applied first."""
    try:
        with fsspec.open(url, "rb") as f:
            table = pacsv.read_csv(
                f,
                read_options=pacsv.ReadOptions(encoding=encoding),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    include_columns=["movieId", "tag"],
                    column_types={"movieId": pa.string(), "tag": pa.string()},
                ),
            )
    except (pa.ArrowInvalid, KeyError, UnicodeDecodeError) as exc:
        raise SourceError(
            f"{url}: not a MovieLens tags.csv with columns movieId and tag ({first_line(exc)})"
        ) from None
    counts: dict[str, Counter[str]] = {}
    spelling: dict[str, dict[str, str]] = {}
    for movie, tag in zip(table["movieId"].to_pylist(), table["tag"].to_pylist(), strict=True):
        if movie is None or tag is None or not tag.strip():
            continue
        key = tag.strip().lower()
        counts.setdefault(movie, Counter())[key] += 1
        spelling.setdefault(movie, {}).setdefault(key, tag.strip())
    # Counter.most_common keeps first-seen order among equal counts: stable for a file.
    return {m: [spelling[m][k] for k, _ in c.most_common(MAX_TAGS)] for m, c in counts.items()}


def read_movielens_items(
    url: str, spec: SourceSpec, batch_rows: int, ctx: ReadContext
) -> Iterator[Batch]:
    tags = read_tags(ctx.companions["tags"], spec.encoding) if "tags" in ctx.companions else {}
    buffer = RowBuffer(ITEM_COLUMNS, batch_rows)
    for batch, first in read_csv(url, spec, batch_rows):
        missing = [c for c in ("movieId", "title", "genres") if c not in batch.column_names]
        if missing:
            found = ", ".join(repr(c) for c in batch.column_names)
            raise SourceError(
                f"{url}: missing column {missing[0]!r} of the MovieLens movies.csv "
                f"layout (found {found})"
            )
        for offset, (movie, title, joined) in enumerate(
            zip(
                batch["movieId"].to_pylist(),
                batch["title"].to_pylist(),
                batch["genres"].to_pylist(),
                strict=True,
            )
        ):
            genres = [g for g in (joined or "").split("|") if g and g != NO_GENRES]
            out = buffer.add(
                first + offset,
                item_id=movie,
                title=title,
                description=describe(genres, tags.get(movie, [])),
                category=genres[0] if genres else UNKNOWN,
                attributes=_attributes(genres, title),
            )
            if out:
                yield out
    if (out := buffer.flush()) is not None:
        yield out


def read_genres(url: str, encoding: str) -> list[str]:
    """ml-100k `u.genre`: `name|index` lines -> names in index order."""
    with fsspec.open(url, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{url}: not valid {encoding} ({exc.reason} at byte {exc.start}); "
            "check data.sources.items.encoding"
        ) from None
    pairs = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, index = line.rpartition("|")
        if not sep or not index.strip().isdigit():
            raise SourceError(f"{url}: line {line_no} is not 'genre|index' (got {line[:60]!r})")
        pairs.append((int(index), name))
    return [name for _, name in sorted(pairs)]


def read_movielens_100k_items(
    url: str, spec: SourceSpec, batch_rows: int, ctx: ReadContext
) -> Iterator[Batch]:
    genre_names = read_genres(ctx.companions["genres"], spec.encoding)
    expected = 5 + len(genre_names)
    buffer = RowBuffer(ITEM_COLUMNS, batch_rows)
    with fsspec.open(url, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                line = raw.decode(spec.encoding).rstrip("\r\n")
            except UnicodeDecodeError as exc:
                out = buffer.add(
                    line_no,
                    f"line {line_no} is not valid {spec.encoding} "
                    f"({exc.reason} at byte {exc.start})",
                )
                if out:
                    yield out
                continue
            if not line.strip():
                if (out := buffer.flush()) is not None:
                    yield out
                continue
            fields = line.split("|")
            flags = fields[5:]
            error = None
            if len(fields) != expected:
                error = (
                    f"line {line_no} has {len(fields)} '|'-separated fields, expected "
                    f"{expected} (5 + {len(genre_names)} genre flags)"
                )
            elif any(flag not in ("0", "1") for flag in flags):
                error = f"line {line_no}: genre flags must be 0 or 1"
            if error:
                out = buffer.add(line_no, error, item_id=fields[0] or None)
            else:
                genres = [n for n, flag in zip(genre_names, flags, strict=True) if flag == "1"]
                named = [g for g in genres if g != UNKNOWN]
                title = fields[1] or None
                out = buffer.add(
                    line_no,
                    item_id=fields[0],
                    title=title,
                    description=describe(named, []),
                    category=named[0] if named else UNKNOWN,
                    attributes=_attributes(
                        named, title, release_date=fields[2], imdb_url=fields[4]
                    ),
                )
            if out:
                yield out
    if (out := buffer.flush()) is not None:
        yield out
