"""The validate stage partition by partition equals validating whole tables on a demo world
with bad rows planted in several partitions: the same accepted and quarantined tables row
for row, the same reasons and profiles, and at any partition size the same outcomes,
report and fingerprints; and the rows add up in every partition."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from karpa.config import CONFIGS, ValidateConfig, load_config
from karpa.demo import generate_world
from karpa.ingest.stage import ingest_table
from karpa.schema import TABLES
from karpa.store import Store
from karpa.validation.partitioned import (
    Partitions,
    check_job,
    plan,
    plan_file,
    read_rows,
    split_job,
)
from karpa.validation.quarantine import write_quarantine
from karpa.validation.stage import reference_time, validate

DEMO = CONFIGS / "demo.yaml"
DAY = ValidateConfig(reference_time="2026-12-01T00:00:00")


def plant_bad_rows(world: Path) -> None:
    """Repeat early items at the end of items.csv (duplicates far from their first row),
    one with no title; the demo's own defects (unknown items, missing users) are spread
    over the events already."""
    lines = (world / "items.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    untitled = rows[5].split(",")
    untitled[1] = ""
    (world / "items.csv").write_text(
        "\n".join([header, *rows, rows[2], rows[40], ",".join(untitled)]) + "\n"
    )


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    world = tmp_path_factory.mktemp("world")
    generate_world(world, scale=0.1, seed=3)
    plant_bad_rows(world)
    cfg = load_config(DEMO, data_root=str(world))
    store = Store(tmp_path_factory.mktemp("store"))
    return {
        t: ingest_table(t, s, cfg.data.root, cfg.ingest, store) for t, s in cfg.data.sources.items()
    }


def _same_outputs(a, b) -> None:
    assert a.fingerprint == b.fingerprint
    assert a.counts == b.counts and a.pii_columns == b.pii_columns and a.stop == b.stop
    assert {t: m.fingerprint for t, m in a.accepted.items()} == {
        t: m.fingerprint for t, m in b.accepted.items()
    }
    for table in a.accepted:
        for kind in ("accepted", "quarantine"):
            pd.testing.assert_frame_equal(
                pd.read_parquet(Path(a.path) / kind / f"{table}.parquet"),
                pd.read_parquet(Path(b.path) / kind / f"{table}.parquet"),
            )
    for name in ("results.json", "profiles.json", "drift.json", "report.html"):
        assert (Path(a.path) / name).read_text() == (Path(b.path) / name).read_text(), name
    assert a.summary_markdown == b.summary_markdown


def _whole_table_reference(ingested, tmp_path: Path) -> dict[str, tuple]:
    """What validating each table whole gives (`validate_tables` on whole frames), written
    the way the stage writes: (accepted frame, quarantined frame, profile) per table."""
    from data_contracts import load_contracts, profile_table, scrub_frame, validate_tables

    contracts = load_contracts(tables=list(ingested))
    frames = {}
    for name, manifest in ingested.items():
        frame = pq.read_table(manifest.path).to_pandas()
        for column in contracts[name].scrub_columns():
            frame, _ = scrub_frame(frame, [column])
        frames[name] = frame
    when = reference_time(DAY)
    out = {}
    for name, result in validate_tables(frames, contracts, reference_time=when).items():
        schema = TABLES[name]
        accepted = pa.Table.from_pandas(
            result.accepted[schema.names], schema=schema, preserve_index=False
        ).to_pandas()
        write_quarantine(result.quarantine, tmp_path / f"{name}.parquet")
        quarantine = pd.read_parquet(tmp_path / f"{name}.parquet")
        profile = json.loads(
            json.dumps(profile_table(result.accepted, name, contracts[name]), default=str)
        )
        out[name] = (accepted, quarantine, profile)
    return out


@pytest.mark.slow
def test_stage_equals_whole_tables_and_any_partition_size(ingested, tmp_path):
    # The stage in one process (its default partitions) against the whole-table verdict.
    single = validate(ingested, DAY, Store(tmp_path / "single"))
    profiles = json.loads((Path(single.path) / "profiles.json").read_text())
    for table, (accepted, quarantine, profile) in _whole_table_reference(
        ingested, tmp_path
    ).items():
        folder = Path(single.path)
        pd.testing.assert_frame_equal(
            pd.read_parquet(folder / "accepted" / f"{table}.parquet"), accepted
        )
        pd.testing.assert_frame_equal(
            pd.read_parquet(folder / "quarantine" / f"{table}.parquet"), quarantine
        )
        assert profiles[table] == profile, table
    seen: list[tuple] = []

    def recording_map(step, jobs):
        out = [step(job) for job in jobs]
        seen.extend((step, job, result) for job, result in zip(jobs, out, strict=True))
        return out

    parted = validate(
        ingested, DAY, Store(tmp_path / "parts"), partitions=Partitions(700, recording_map)
    )
    _same_outputs(single, parted)

    items = pd.read_parquet(Path(parted.path) / "quarantine" / "items.parquet")
    planted = set(range(ingested["items"].rows - 2, ingested["items"].rows + 1))
    assert planted <= set(items["_row"])  # the three rows repeated at the end
    assert items["reasons"].str.contains("; ").sum() == 1  # untitled and a duplicate
    events = pd.read_parquet(Path(parted.path) / "quarantine" / "events.parquet")
    bad_partitions = {(row - 1) // 700 for row in events["_row"]}
    assert len(bad_partitions) > 3  # bad rows in many partitions, all caught
    # Rows add up in every partition, and the partitions cover every table exactly.
    splits = [(job, result) for step, job, result in seen if step is split_job]
    for job, (accepted, quarantine) in splits:
        assert accepted + len(quarantine) == job.stop - job.start
    for table, m in ingested.items():
        mine = [job for job, _ in splits if job.table == table]
        assert sum(job.stop - job.start for job in mine) == m.rows
    assert sum(1 for step, _, _ in seen if step is check_job) == len(splits)

    # Partitions bounded by bytes: the images and texts are cut by their size, not rows.
    seen.clear()
    by_bytes = validate(
        ingested,
        DAY,
        Store(tmp_path / "bytes"),
        partitions=Partitions(100_000, recording_map, max_bytes=64 * 2**10),
    )
    _same_outputs(single, by_bytes)
    splits = [(job, result) for step, job, result in seen if step is split_job]
    images = [job for job, _ in splits if job.table == "images"]
    assert len(images) > 3
    assert sum(job.stop - job.start for job in images) == ingested["images"].rows
    for job, (accepted, quarantine) in splits:
        assert accepted + len(quarantine) == job.stop - job.start


def test_plan_and_read_rows_cover_the_table(ingested):
    assert plan(0, 10) == [(0, 0)]
    assert plan(25, 10) == [(0, 10), (10, 20), (20, 25)]
    events = ingested["events"]
    whole = pd.read_parquet(events.path)
    parts = [read_rows(events.path, a, b).to_pandas() for a, b in plan(events.rows, 777)]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)
    assert json.dumps(len(parts)) == str(-(-events.rows // 777))


def _covers(ranges: list[tuple[int, int]], rows: int) -> bool:
    return (
        ranges[0][0] == 0
        and ranges[-1][1] == rows
        and all(a[1] == b[0] for a, b in pairwise(ranges))
    )


def test_plan_file_bounds_partitions_by_rows_and_bytes(ingested, tmp_path):
    images = pq.ParquetFile(ingested["images"].path).metadata
    # No byte bound: the row plan.
    assert plan_file(images, 300) == plan(images.num_rows, 300)
    # A byte bound: each partition within it (by its row groups' bytes per row), or one row.
    limit = 32 * 2**10
    per_row = images.row_group(0).total_byte_size / images.row_group(0).num_rows
    ranges = plan_file(images, 10_000, limit)
    assert _covers(ranges, images.num_rows) and len(ranges) > 3
    assert all((b - a) * per_row <= limit or b - a == 1 for a, b in ranges)
    assert plan_file(images, 10_000, 1) == [(i, i + 1) for i in range(images.num_rows)]
    # Row groups of different row sizes: each row weighs its own group's bytes per row,
    # and the row bound still holds.
    small = pa.table({"x": pa.array(["a"] * 1000)})
    large = pa.table({"x": pa.array(["b" * 1000] * 1000)})
    path = tmp_path / "two.parquet"
    with pq.ParquetWriter(path, small.schema, use_dictionary=False) as writer:
        writer.write_table(small)
        writer.write_table(large)
    meta = pq.ParquetFile(path).metadata
    ranges = plan_file(meta, 600, 100 * 2**10)
    assert _covers(ranges, 2000)
    assert all(b - a <= 600 for a, b in ranges)
    assert [b - a for a, b in ranges if a >= 1000 and b - a < 600]  # the long rows, fewer
    assert ranges[0] == (0, 600)  # short rows: the row bound
    assert plan_file(pq.ParquetFile(ingested["items"].path).metadata, 10, 2**30)[0] == (0, 10)
