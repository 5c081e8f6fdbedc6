"""The streaming image check: PIL verify + load, mode, size, declared size; batch by batch."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_contracts import check_image, scan_images
from data_contracts.rules import compile_rules


@pytest.fixture
def image_rule(contracts, reference):
    return next(r for r in compile_rules(contracts["images"], reference) if r.kind == "image")


def test_good_png_and_jpeg_pass(image_rule, png):
    assert check_image(png(), image_rule.params, 16, 16) is None
    assert check_image(png(mode="L", fmt="JPEG"), image_rule.params, 16, 16) is None
    assert check_image(png(mode="P"), image_rule.params) is None


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda png: png(mode="CMYK", fmt="JPEG"), "mode CMYK not allowed (RGB, RGBA, L, P)"),
        (lambda png: png(width=5000, height=10), "size 5000x10 has a side outside [8, 4096]"),
        (lambda png: png(width=4, height=4), "size 4x4 has a side outside [8, 4096]"),
        (lambda png: png(width=32, height=16), "declared 16x16 but decodes to 32x16"),
        (lambda png: b"", "empty image (0 bytes)"),
    ],
)
def test_bad_images_are_named(image_rule, png, make, reason):
    assert check_image(make(png), image_rule.params, 16, 16) == reason


@pytest.mark.parametrize("cut", [8, 40, -12])
def test_truncated_or_corrupt_bytes_are_undecodable(image_rule, png, cut):
    data = png(64, 64)
    broken = data[:cut] if cut > 0 else data[:cut] + b"garbage!!!!!"
    assert check_image(broken, image_rule.params).startswith("undecodable image (")


def test_null_bytes_are_left_to_the_required_rule(image_rule):
    assert check_image(None, image_rule.params) is None


def test_scan_streams_arrow_batches_from_parquet(tmp_path, image_rule, png):
    blobs = [png(), b"", png(), png()[:30], png()] * 3
    table = pa.table(
        {"bytes": pa.array(blobs, pa.binary()), "width": [16] * 15, "height": [16] * 15}
    )
    path = tmp_path / "images.parquet"
    pq.write_table(table, path, row_group_size=4)
    batches = pq.ParquetFile(path).iter_batches(batch_size=4)
    found = dict(scan_images(batches, image_rule))
    assert sorted(found) == [1, 3, 6, 8, 11, 13]
    assert found[1] == "empty image (0 bytes)"


def test_scan_pulls_one_batch_at_a_time(image_rule, png):
    pulled = []

    def batches():
        for index in range(3):
            pulled.append(index)
            yield pa.record_batch({"bytes": [b"", png()], "width": [16, 16], "height": [16, 16]})

    scan = scan_images(batches(), image_rule)
    assert next(scan) == (0, "empty image (0 bytes)")
    assert pulled == [0]  # the rest of the table has not been read yet
    assert [position for position, _ in scan] == [2, 4]
