"""`generate_world`: write every source file of the demo world and its manifest."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

from karpa.demo import intents, vocabulary
from karpa.demo.behaviour import build_users, write_events
from karpa.demo.catalog import build_catalog, write_items
from karpa.demo.files import atomic_open
from karpa.demo.images import write_images
from karpa.demo.messages import write_messages
from karpa.demo.news import write_news
from karpa.demo.sampling import stream

log = logging.getLogger(__name__)

# Bump when the same seed and scale would give different files.
GENERATOR_VERSION = "1.0.0"
# Rows at scale 1; every count scales linearly (with small floors for tiny scales).
BASE_COUNTS = {"items": 1_000, "users": 2_000, "events": 100_000, "messages": 20_000, "news": 8_000}
FLOORS = {"items": 40, "users": 20, "events": 500, "messages": 200, "news": 80}
IMAGE_NAME = re.compile(r"^I\d{6}__\d+\.png$")


def world_sizes(scale: float) -> dict[str, int]:
    """How many items, users, (target) events, messages and headlines a scale gives."""
    return {k: max(FLOORS[k], round(v * scale)) for k, v in BASE_COUNTS.items()}


def generate_world(out: Path, scale: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """Generate the demo world's raw sources into `out`; return the manifest.

    Writes items.csv, images/<item_id>__<k>.png, events.parquet, messages.jsonl, news.csv
    and, last, world.json (the returned manifest), so a folder with a world.json holds a
    complete world. Same seed and scale give byte-identical files. `out` belongs to the
    generator: its files are replaced, and stale photos of an earlier world are removed.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "world.json").unlink(missing_ok=True)  # incomplete until rewritten at the end
    _remove_stale_images(out / "images")
    sizes = world_sizes(scale)

    catalog, descriptions = build_catalog(stream(seed, "catalog"), sizes["items"])
    n_items, item_defects = write_items(stream(seed, "items.csv"), out, catalog, descriptions)
    n_images, image_defects = write_images(stream(seed, "images"), out, catalog)
    users = build_users(stream(seed, "users"), sizes["users"], sizes["events"] / sizes["users"])
    n_events, event_defects = write_events(stream(seed, "events"), out, catalog, users)
    n_messages, message_defects, message_noise = write_messages(
        stream(seed, "messages"), out, catalog, users.user_ids, sizes["messages"]
    )
    n_news, news_noise = write_news(stream(seed, "news"), out, sizes["news"])

    manifest: dict[str, Any] = {
        "seed": seed,
        "scale": float(scale),
        "generator_version": GENERATOR_VERSION,
        "counts": {
            "items.csv": n_items,
            "images": n_images,
            "events.parquet": n_events,
            "messages.jsonl": n_messages,
            "news.csv": n_news,
        },
        "vocabulary": {**vocabulary.describe(), "intents": list(intents.INTENTS)},
        "latent": {
            "users": len(users),
            "cold_items": [catalog.item_ids[i] for i in catalog.cold.nonzero()[0]],
        },
        "defects": {**item_defects, **image_defects, **event_defects, **message_defects},
        "noise": {**message_noise, **news_noise},
    }
    _count_lists(manifest["defects"])
    with atomic_open(out / "world.json", "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    log.info(
        "demo world (scale %s, seed %d) written to %s in %.1f s: %s",
        scale,
        seed,
        out,
        time.perf_counter() - started,
        manifest["counts"],
    )
    return manifest


def _count_lists(defects: dict[str, Any]) -> None:
    """Give every defect entry a `count`: the length of its id or row list."""
    for entry in defects.values():
        if "count" in entry:
            continue
        lists = [v for v in entry.values() if isinstance(v, list)]
        if lists:
            entry["count"] = len(lists[0])
        else:  # a group of sub-entries, such as PII per type
            _count_lists(entry)


def _remove_stale_images(folder: Path) -> None:
    """Delete photos this generator wrote before (and only those), ahead of a rewrite."""
    if folder.is_dir():
        for path in folder.iterdir():
            if IMAGE_NAME.match(path.name) and path.is_file():
                path.unlink()
