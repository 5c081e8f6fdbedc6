"""The demo world's files: deterministic, scaled, and readable in their stated formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from karpa.demo import generate_world
from karpa.demo.intents import INTENTS
from karpa.demo.vocabulary import CATEGORIES, EVENT_TYPES, SENTIMENTS, TICKERS
from karpa.demo.world import world_sizes

FILES = ("items.csv", "events.parquet", "messages.jsonl", "news.csv", "world.json")
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("world")
    return out, generate_world(out, scale=0.2, seed=0)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(
    tmp_path: Path, world: tuple[Path, dict]
) -> None:
    generate_world(tmp_path / "again", scale=0.2, seed=0)
    generate_world(tmp_path / "other", scale=0.2, seed=1)
    first, again, other = _tree(world[0]), _tree(tmp_path / "again"), _tree(tmp_path / "other")
    assert first.keys() == again.keys()
    assert [k for k in first if first[k] != again[k]] == []
    for name in FILES[:-1]:
        assert first[name] != other[name], name


def test_regenerating_into_the_same_folder_replaces_the_world(tmp_path: Path) -> None:
    generate_world(tmp_path, scale=0.2, seed=3)
    manifest = generate_world(tmp_path, scale=0.1, seed=3)
    assert len(list((tmp_path / "images").glob("*.png"))) == manifest["counts"]["images"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_counts_scale_with_scale(world: tuple[Path, dict]) -> None:
    one, ten = world_sizes(1.0), world_sizes(10.0)
    assert one == {
        "items": 1000,
        "users": 2000,
        "events": 100_000,
        "messages": 20_000,
        "news": 8000,
    }
    assert ten == {k: 10 * v for k, v in one.items()}
    counts = world[1]["counts"]
    fifth = world_sizes(0.2)
    assert fifth["items"] <= counts["items.csv"] <= fifth["items"] * 1.02  # + duplicates
    assert counts["messages.jsonl"] == fifth["messages"]
    assert counts["news.csv"] == fifth["news"]
    assert 0.85 * fifth["events"] < counts["events.parquet"] < 1.15 * fifth["events"]
    assert 0.8 * fifth["items"] < counts["images"] < 1.3 * fifth["items"]


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scale"):
        generate_world(tmp_path, scale=0)
    with pytest.raises(ValueError, match="seed"):
        generate_world(tmp_path, seed=-1)


def test_manifest_layout(world: tuple[Path, dict]) -> None:
    out, manifest = world
    assert json.loads((out / "world.json").read_text()) == manifest
    assert {"seed", "scale", "generator_version", "counts", "vocabulary", "defects"} <= set(
        manifest
    )
    assert manifest["seed"] == 0 and manifest["scale"] == 0.2
    assert set(manifest["counts"]) == {
        "items.csv",
        "images",
        "events.parquet",
        "messages.jsonl",
        "news.csv",
    }
    vocab = manifest["vocabulary"]
    assert vocab["intents"] == list(INTENTS) and "oos" in vocab["intents"]
    assert vocab["categories"] == list(CATEGORIES)
    assert all(len(forms) == 8 for forms in vocab["colour_forms"].values())
    for entry in manifest["defects"].values():
        counts = [entry["count"]] if "count" in entry else [v["count"] for v in entry.values()]
        assert all(c > 0 for c in counts)


def test_items_csv(world: tuple[Path, dict]) -> None:
    out, manifest = world
    items = pd.read_csv(out / "items.csv", keep_default_na=False)
    assert list(items.columns) == [
        "item_id",
        "title",
        "description",
        "category",
        "attributes",
        "price",
        "created_at",
    ]
    assert len(items) == manifest["counts"]["items.csv"]
    assert items.item_id.str.fullmatch(r"I\d{6}").all()
    assert set(items.category) <= set(CATEGORIES)
    attributes = items.attributes.map(json.loads)
    assert all(set(a) == {"colour", "pattern", "material", "price_band"} for a in attributes)
    assert items.price.dtype == np.float64 and (items.price > 0).all()
    assert items.created_at.map(lambda s: bool(ISO_Z.match(s))).all()
    created = pd.to_datetime(items.created_at, utc=True)
    assert created.dt.tz is not None


def test_events_parquet(world: tuple[Path, dict]) -> None:
    out, manifest = world
    expected = pa.schema(
        [
            ("user_id", pa.string()),
            ("item_id", pa.string()),
            ("event_type", pa.string()),
            ("value", pa.float64()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("session_id", pa.string()),
        ]
    )
    assert pq.read_schema(out / "events.parquet").remove_metadata() == expected
    events = pd.read_parquet(out / "events.parquet")
    assert len(events) == manifest["counts"]["events.parquet"]
    assert set(events.event_type) == set(EVENT_TYPES)
    kind = events.event_type
    assert events.value[kind.isin(["view", "click"])].isna().all()
    stars = events.value[kind == "rating"]
    assert stars.between(1, 5).all() and (stars == stars.round()).all()
    assert (events.value[kind.isin(["cart", "purchase"])] >= 1).all()
    assert events.ts.min() >= pd.Timestamp("2026-01-01", tz="UTC")
    assert events.ts.max() < pd.Timestamp("2026-04-01", tz="UTC")
    assert events.user_id.dropna().str.fullmatch(r"U\d{5}").all()
    assert events.session_id.str.fullmatch(r"S\d{7}").all()


def test_messages_jsonl(world: tuple[Path, dict]) -> None:
    out, manifest = world
    lines = (out / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == manifest["counts"]["messages.jsonl"]
    assert all(list(r) == ["message_id", "user_id", "text", "ts", "intent"] for r in records)
    messages = pd.read_json(out / "messages.jsonl", lines=True, dtype=False)
    assert messages.message_id.is_unique
    assert messages.ts.map(lambda s: bool(ISO_Z.match(s))).all()
    labeled = messages.intent.dropna()
    assert set(labeled) == set(INTENTS)
    assert 0.15 < len(labeled) / len(messages) < 0.25
    assert 0.25 < messages.user_id.isna().mean() < 0.35
    assert 0.05 < (labeled == "oos").mean() < 0.11
    # Ordinary numbers that a PII scrubber must leave alone are common.
    assert messages.text.str.contains(r"#\d{5}\b").mean() > 0.1
    assert messages.text.str.contains(r"\d+\.\d{2}").mean() > 0.03


def test_news_csv(world: tuple[Path, dict]) -> None:
    out, manifest = world
    news = pd.read_csv(out / "news.csv", keep_default_na=False)
    assert list(news.columns) == ["news_id", "ts", "headline", "body", "entities", "sentiment"]
    assert len(news) == manifest["counts"]["news.csv"]
    assert all(set(e.split("|")) <= set(TICKERS) for e in news.entities)
    assert set(news.sentiment) == {"", *SENTIMENTS}
    labeled = news.sentiment[news.sentiment != ""]
    assert 0.2 < len(labeled) / len(news) < 0.3
    assert labeled.value_counts().index[0] == "neutral"
    assert 0.2 < (news.body == "").mean() < 0.4


def test_images_are_small_rgb_pngs(world: tuple[Path, dict]) -> None:
    out, manifest = world
    broken = {
        f for key in ("images_corrupt", "images_empty") for f in manifest["defects"][key]["files"]
    }
    files = sorted((out / "images").iterdir())
    assert len(files) == manifest["counts"]["images"]
    per_item: dict[str, int] = {}
    for path in files:
        assert re.fullmatch(r"I\d{6}__[01]\.png", path.name), path.name
        item_id = path.name.split("__")[0]
        per_item[item_id] = per_item.get(item_id, 0) + 1
        if f"images/{path.name}" in broken:
            continue
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "RGB", (32, 32))
    assert max(per_item.values()) == 2
    n_items = world_sizes(0.2)["items"]
    assert 0.8 < len(per_item) / n_items < 0.97  # about 10% of items have no photo
