"""Streaming image check: decode each image with PIL, one batch of rows at a time.

Decoded pixels are far larger than their PNG/JPEG bytes, so the table is never decoded
at once: `scan_images` walks batches (slices of a frame, or Arrow record batches straight
from a Parquet file) and keeps only the verdicts. An image is read twice on purpose: PIL's
`verify()` catches structural corruption (bad CRCs, truncated chunks) but leaves the image
unusable, and `load()` then proves the pixel data really decodes.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
from PIL import Image

from data_contracts.rules import Rule

logger = logging.getLogger(__name__)

_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def check_image(
    data: bytes | None,
    params: dict[str, Any],
    declared_width: Any = None,
    declared_height: Any = None,
) -> str | None:
    """Why the encoded image `data` breaks the image rule, or None if it is fine.

    A null value is not judged here: whether bytes are required is the `required` rule's job.
    """
    if data is None:
        return None
    if len(data) == 0:
        return "empty image (0 bytes)"
    low, high = params["min_side"], params["max_side"]
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            # Judge the size from the header before load(), so an oversized image is
            # refused without allocating its pixels.
            if not (low <= width <= high and low <= height <= high):
                return f"size {width}x{height} has a side outside [{low}, {high}]"
            image.load()
            mode = image.mode
    except Exception as exc:
        # PIL signals corrupt input with many exception types (OSError, SyntaxError,
        # struct.error, ValueError, DecompressionBombError...): each is a verdict on the
        # data. It also names the in-memory file by address; drop that so reasons are stable.
        message = _OBJECT_REPR.sub("the bytes", str(exc))
        return f"undecodable image ({type(exc).__name__}: {message})"
    if mode not in params["modes"]:
        return f"mode {mode} not allowed ({', '.join(params['modes'])})"
    if pd.notna(declared_width) and pd.notna(declared_height):
        declared = (int(declared_width), int(declared_height))
        if declared != (width, height):
            return f"declared {declared[0]}x{declared[1]} but decodes to {width}x{height}"
    return None


def _column(batch: pd.DataFrame | pa.RecordBatch, name: str | None, size: int) -> list[Any]:
    is_arrow = isinstance(batch, pa.RecordBatch)
    names = batch.schema.names if is_arrow else list(batch.columns)
    if name is None or name not in names:
        return [None] * size
    return batch.column(name).to_pylist() if is_arrow else batch[name].tolist()


def scan_images(
    batches: Iterable[pd.DataFrame | pa.RecordBatch], rule: Rule
) -> Iterator[tuple[int, str]]:
    """Yield `(row position, reason)` for every image that breaks `rule`, batch by batch.

    Positions count from the first row of the first batch, so batches must arrive in
    table order (as `iter_batches` and frame slices do).
    """
    params = rule.params
    offset = 0
    for batch in batches:
        size = batch.num_rows if isinstance(batch, pa.RecordBatch) else len(batch)
        data = _column(batch, rule.column, size)
        widths = _column(batch, params.get("width_column"), size)
        heights = _column(batch, params.get("height_column"), size)
        for index, (blob, width, height) in enumerate(zip(data, widths, heights, strict=True)):
            reason = check_image(blob, params, width, height)
            if reason is not None:
                yield offset + index, reason
        offset += size
    logger.debug("checked %d images with rule %s", offset, rule.name)


def frame_batches(
    frame: pd.DataFrame, columns: list[str], batch_rows: int
) -> Iterator[pd.DataFrame]:
    """Slices of `frame[columns]`, `batch_rows` rows each, in order."""
    for start in range(0, len(frame), batch_rows):
        yield frame.iloc[start : start + batch_rows][columns]
