"""IDX files (MNIST, Fashion-MNIST): images as PNG rows, and one item per label.

IDX is LeCun's binary layout: a 4-byte magic (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the values. Images are (n, rows,
cols) unsigned bytes; labels are (n,) unsigned bytes in a separate file, named in
`SourceSpec.with_files.labels`. Files may be gzipped (detected from their first bytes).

For the `images` table each image becomes a grayscale (mode L) PNG whose item is its label;
for the `items` table each label present becomes one item titled with its name ("seven"),
so an image-text objective pairs every digit with its word.
"""

from __future__ import annotations

import gzip
import io
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import fsspec
import numpy as np
import pyarrow as pa

from karpa.config import SourceSpec
from karpa.errors import SourceError
from karpa.ingest.rows import Batch, ReadContext, RowBuffer

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
UNSIGNED_BYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"
IMAGE_BATCH = 4096  # rows per batch at most: a batch holds encoded images


@contextmanager
def _open(url: str) -> Iterator[IO[bytes]]:
    with fsspec.open(url, "rb") as raw:
        head = raw.read(2)
        raw.seek(0)
        if head == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=raw) as unzipped:
                yield unzipped
        else:
            yield raw


def _header(f: IO[bytes], url: str, ndim: int) -> tuple[int, ...]:
    """The dimensions after checking the magic: unsigned bytes with `ndim` dimensions."""
    magic = f.read(4)
    if len(magic) < 4 or magic[:2] != b"\0\0":
        raise SourceError(f"{url}: not an IDX file (no IDX magic number at the start)")
    if magic[2] != UNSIGNED_BYTE:
        raise SourceError(
            f"{url}: IDX type code 0x{magic[2]:02x} is not supported (only unsigned bytes, 0x08)"
        )
    if magic[3] != ndim:
        kind = "images (n, rows, cols)" if ndim == 3 else "labels (n)"
        raise SourceError(f"{url}: IDX file has {magic[3]} dimensions, expected {ndim} for {kind}")
    raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise SourceError(f"{url}: truncated IDX header")
    return struct.unpack(f">{ndim}I", raw)


def read_labels(url: str) -> np.ndarray:
    """All labels of an IDX label file, (n,) uint8."""
    with _open(url) as f:
        (n,) = _header(f, url, 1)
        data = f.read(n)
    if len(data) < n:
        raise SourceError(
            f"{url}: truncated IDX labels: header says {n:,}, file holds {len(data):,}"
        )
    return np.frombuffer(data, dtype=np.uint8)


def _names(spec: SourceSpec) -> tuple[str, ...]:
    return tuple(spec.label_names) if spec.label_names else DIGITS


def _png(pixels: bytes, rows: int, cols: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.frombytes("L", (cols, rows), pixels).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _image_batch(rows: dict[str, list]) -> pa.Table:
    types = {"bytes": pa.binary(), "width": pa.int32(), "height": pa.int32()}
    return pa.table({k: pa.array(v, type=types.get(k, pa.string())) for k, v in rows.items()})


def _images(url: str, labels_url: str, batch_rows: int) -> Iterator[Batch]:
    labels = read_labels(labels_url)
    stem = url.rsplit("/", 1)[-1].split(".", 1)[0]
    cap = min(batch_rows, IMAGE_BATCH)
    with _open(url) as f:
        n, height, width = _header(f, url, 3)
        if len(labels) != n:
            raise SourceError(
                f"{url}: {n:,} images but {labels_url.rsplit('/', 1)[-1]} has {len(labels):,} "
                "labels; the two files must describe the same images"
            )
        size = height * width
        first = 1
        for start in range(0, n, cap):
            count = min(cap, n - start)
            block = f.read(count * size)
            if len(block) < count * size:
                got = start + len(block) // size
                raise SourceError(
                    f"{url}: truncated IDX images: header says {n:,}, file holds {got:,}"
                )
            rows: dict[str, list] = {
                "image_id": [],
                "item_id": [],
                "bytes": [],
                "width": [],
                "height": [],
            }
            for i in range(count):
                index = start + i
                rows["image_id"].append(f"{stem}-{index + 1}")
                rows["item_id"].append(f"label-{labels[index]}")
                rows["bytes"].append(_png(block[i * size : (i + 1) * size], height, width))
                rows["width"].append(width)
                rows["height"].append(height)
            yield _image_batch(rows), first
            first += count


def _items(labels_url: str, spec: SourceSpec, batch_rows: int) -> Iterator[Batch]:
    names = _names(spec)
    # Items come from the labels file, so that is where their provenance points.
    buffer = RowBuffer(("item_id", "title", "_source"), batch_rows)
    for row, label in enumerate(sorted(set(read_labels(labels_url).tolist())), start=1):
        known = label < len(names)
        shown = ", ".join(names[:3])
        error = (
            None
            if known
            else (f"label {label} has no name (label_names has {len(names)}: {shown}, ...)")
        )
        batch = buffer.add(
            row,
            error,
            item_id=f"label-{label}",
            title=names[label] if known else None,
            _source=labels_url,
        )
        if batch:
            yield batch
    if (batch := buffer.flush()) is not None:
        yield batch


def read_idx(url: str, spec: SourceSpec, batch_rows: int, ctx: ReadContext) -> Iterator[Batch]:
    """`images`: one PNG row per image; `items`: one row per label present in the labels."""
    labels_url = ctx.companions["labels"]
    if ctx.table == "images":
        yield from _images(url, labels_url, batch_rows)
    else:
        yield from _items(labels_url, spec, batch_rows)
