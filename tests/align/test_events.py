"""Alignment a batch of users at a time: whole users per batch, and the views of the
whole table whatever the batch size."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from karpa.align import events as event_files
from karpa.align.events import first_users, split_by_user
from karpa.align.stage import align
from karpa.config import AlignConfig
from karpa.manifests import TableManifest
from karpa.schema import TABLES
from karpa.store import Store

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def _write(folder, name: str, frame: pd.DataFrame) -> TableManifest:
    schema = TABLES[name]
    for field in schema:
        if field.name not in frame:
            frame[field.name] = None
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    path = folder / f"{name}.parquet"
    # Small row groups, so a batch of users is gathered from several of them.
    pq.write_table(table, path, row_group_size=50)
    return TableManifest(
        table=name, fingerprint=f"fp-{name}", path=str(path), rows=len(frame), bytes=1
    )


def _events(rng: np.random.Generator, n: int = 600) -> pd.DataFrame:
    """Shuffled events of 40 users: repeats, exact duplicates, unknown items, events
    with and without a session, tied timestamps, and a few without a user."""
    users = [f"U{u:02d}" for u in rng.integers(0, 40, n)]
    users[::97] = [None] * len(users[::97])
    frame = pd.DataFrame(
        {
            "user_id": users,
            "item_id": [f"I{i}" for i in rng.integers(0, 25, n)],  # I20.. are unknown
            "event_type": rng.choice(["view", "click", "purchase"], n),
            "ts": T0 + pd.to_timedelta(rng.integers(0, 600, n) * 5, unit="min"),
            "session_id": [f"s{s}" if s % 3 else None for s in rng.integers(0, 30, n)],
        }
    )
    return pd.concat([frame, frame.iloc[::50]], ignore_index=True).sample(frac=1.0, random_state=1)


@pytest.fixture
def world(tmp_path):
    rng = np.random.default_rng(0)
    items = pd.DataFrame(
        {
            "item_id": [f"I{i}" for i in range(20)],
            "title": [f"thing {i}" for i in range(20)],
            "description": [f"a thing numbered {i}" for i in range(20)],
            "category": [["hat", "shoe"][i % 2] for i in range(20)],
        }
    )
    messages = pd.DataFrame(
        {
            "message_id": [f"m{i:03d}" for i in range(120)],
            "user_id": [f"U{u:02d}" if u < 45 else None for u in rng.integers(0, 50, 120)],
            "text": [f"message {i}" for i in range(120)],
            "ts": T0 + pd.to_timedelta(rng.integers(0, 3000, 120), unit="min"),
            "intent": [["a", "b"][i % 2] for i in range(120)],
        }
    )
    frames = {"items": items, "events": _events(rng), "messages": messages}
    return {name: _write(tmp_path, name, frame) for name, frame in frames.items()}


def test_batches_are_whole_users_in_order(world, tmp_path):
    path = world["events"].path
    source = pq.read_table(path).to_pandas()
    files = split_by_user(path, ["user_id", "item_id", "ts"], tmp_path / "parts", 30)
    batches = [pq.read_table(f).to_pandas() for f in files]
    assert sum(len(b) for b in batches) == len(source)  # every event, once
    seen = [sorted(b["user_id"].dropna().unique()) for b in batches]
    flat = [u for users in seen for u in users]
    assert flat == sorted(source["user_id"].dropna().unique())  # disjoint, sorted ranges
    assert batches[0]["user_id"].isna().sum() == source["user_id"].isna().sum()
    for batch in batches:
        # No batch past 30 events, unless one user alone has more.
        assert len(batch.dropna(subset=["user_id"])) <= 30 or batch["user_id"].nunique() == 1
        for user, group in batch.groupby("user_id"):  # file order kept inside a user
            mine = source[source["user_id"] == user]
            kept = group[["item_id", "ts"]].reset_index(drop=True)
            assert kept.equals(mine[["item_id", "ts"]].reset_index(drop=True))


def test_first_users_never_split_a_user():
    assert first_users({"b": 3, "a": 2, "c": 9, "d": 1}, 4) == ["a", "b", "c", "d"]
    assert first_users({"a": 1, "b": 1, "c": 1}, 2) == ["a", "c"]
    assert first_users({}, 5) == []


@pytest.mark.parametrize("batch_events", [1, 7, 64])
def test_views_do_not_depend_on_the_batch_size(world, tmp_path, monkeypatch, batch_events):
    cfg = AlignConfig(k_shots=[2], fewshot_seeds=[0], min_coverage={}, held_out_pairs=0.0)
    whole = align(world, cfg, Store(tmp_path / "whole"))  # 600-odd events: one batch
    monkeypatch.setattr(event_files, "BATCH_EVENTS", batch_events)
    batched = align(world, cfg, Store(tmp_path / "batched"))
    assert batched.coverage == whole.coverage and batched.views == whole.views
    assert whole.views["sequences"] == 40
    for name in whole.views:
        a = pq.read_table(f"{whole.path}/{name}.parquet")
        b = pq.read_table(f"{batched.path}/{name}.parquet")
        assert a.schema.equals(b.schema, check_metadata=True), name
        assert a.equals(b), name
    pandas = json.loads(pq.read_schema(f"{batched.path}/sequences.parquet").metadata[b"pandas"])
    assert [c["numpy_type"] for c in pandas["columns"]][3:5] == ["Int64", "Int64"]
