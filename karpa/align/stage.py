"""The align stage: accepted tables -> aligned views in the store, plus coverage.

Keyed by the accepted tables' fingerprints and the align config, so it is skipped when
neither changed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from karpa.align.coverage import check_thresholds, coverage, render_html
from karpa.align.splits import TRAIN, stratified_k_shot
from karpa.align.views import (
    build_items,
    build_messages,
    build_news,
    build_sequences,
    pretrain_texts,
)
from karpa.config import AlignConfig, SourceSpec
from karpa.fingerprint import combine, digest_json
from karpa.manifests import AlignManifest, TableManifest
from karpa.schema import TABLES
from karpa.store import Store, write_manifest

log = logging.getLogger(__name__)

ALIGN_VERSION = "1"
# Only the columns the views read, not the provenance columns (a file path per row) or
# the unused ones: at 10x the demo world that is most of what a table holds in memory.
ITEM_COLUMNS = ["item_id", "title", "description", "category", "attributes", "created_at"]
EVENT_COLUMNS = ["user_id", "item_id", "event_type", "ts", "session_id"]
MESSAGE_COLUMNS = ["message_id", "user_id", "text", "ts", "intent"]
NEWS_COLUMNS = ["news_id", "ts", "headline", "body", "entities", "sentiment"]
TASK_LABELS = {
    "intent": ("messages", "message_id", "intent"),
    "sentiment": ("news", "news_id", "sentiment"),
}


def _read(tables: dict[str, TableManifest], name: str, columns: list[str] | None = None):
    # A run may have only some modalities (a public intent dataset has no catalogue): an
    # absent table is an empty one of the canonical shape, and coverage shows the zeros.
    if name not in tables:
        empty = TABLES[name].empty_table()
        return (empty.select(columns) if columns else empty).to_pandas()
    return pq.read_table(tables[name].path, columns=columns).to_pandas()


def fewshot(
    view: pd.DataFrame, id_col: str, label: str, task: str, cfg: AlignConfig
) -> pd.DataFrame:
    """Membership of the k-shot training subsets: (task, k, seed, id)."""
    train = view[(view["split"] == TRAIN) & view[label].notna()].set_index(id_col)[label]
    exclude = frozenset({cfg.oos_label}) if task == "intent" else frozenset()
    rows = []
    for k in cfg.k_shots:
        for seed in cfg.fewshot_seeds:
            for member in stratified_k_shot(train, k, seed, exclude):
                rows.append((task, k, seed, member))
    return pd.DataFrame(rows, columns=["task", "k", "seed", "id"])


def split_hints(sources: dict[str, SourceSpec]) -> dict[str, str]:
    """Table -> the regex that reads its official split from the row id, where a source
    has one (`SourceSpec.split_from_id`)."""
    return {t: s.split_from_id for t, s in sources.items() if s.split_from_id}


def align(
    tables: dict[str, TableManifest],
    cfg: AlignConfig,
    store: Store,
    split_hints: dict[str, str] | None = None,
) -> AlignManifest:
    """`split_hints`: table -> regex whose group `split` reads a source's official split
    from the row id (`SourceSpec.split_from_id`); rows it does not match are hash-split."""
    hints = split_hints or {}
    # Hints and `stratify` join the key only when given, so runs without them keep their
    # fingerprints.
    settings = cfg.model_dump(mode="json", exclude=set() if cfg.stratify else {"stratify"})
    key = combine(
        [ALIGN_VERSION, digest_json(settings)]
        + ([digest_json(hints)] if hints else [])
        + [f"{n}:{tables[n].fingerprint}" for n in sorted(tables)]
    )
    if store.has("views", key):
        log.info("align: inputs and config unchanged (fingerprint %s), skipped", key)
        return _checked(AlignManifest(**store.manifest("views", key), skipped=True), cfg)

    items = _read(tables, "items", ITEM_COLUMNS)
    images = _read(tables, "images", ["image_id", "item_id", "bytes"])
    events = _read(tables, "events", EVENT_COLUMNS)
    item_view, pairs = build_items(
        items, images, events, cfg.image_size, cfg.salt, cfg.held_out_pairs
    )
    images_in = len(images)
    del items, images  # each table is let go once its views are built
    index = dict(zip(item_view["item_id"], item_view["item_idx"], strict=True))
    sequences, orphans = build_sequences(events, index, cfg.session_gap_minutes)
    messages = build_messages(
        _read(tables, "messages", MESSAGE_COLUMNS),
        events,
        index,
        cfg.salt,
        cfg.val_share,
        cfg.test_share,
        cfg.recent_items,
        hints.get("messages"),
        cfg.stratify,
    )
    del events
    categories = sorted(item_view["category"].dropna().unique())
    news = build_news(
        _read(tables, "news", NEWS_COLUMNS),
        categories,
        cfg.salt,
        cfg.val_share,
        cfg.test_share,
        hints.get("news"),
        cfg.stratify,
    )
    texts = pretrain_texts(item_view, messages, news, cfg.transductive)
    shots = pd.concat(
        [
            fewshot(messages, "message_id", "intent", "intent", cfg),
            fewshot(news, "news_id", "sentiment", "sentiment", cfg),
        ],
        ignore_index=True,
    )
    figures = coverage(item_view, pairs, images_in, sequences, messages, news, orphans)

    splits = pd.concat(
        [
            pd.DataFrame(
                {"table": "messages", "id": messages["message_id"], "split": messages["split"]}
            ),
            pd.DataFrame({"table": "news", "id": news["news_id"], "split": news["split"]}),
        ],
        ignore_index=True,
    )
    views = {
        "splits": splits,
        "items": item_view,
        "image_text": pairs,
        "sequences": sequences,
        "messages": messages,
        "news": news,
        "pretrain_texts": texts,
        "fewshot": shots,
    }
    with store.writing("views", key) as tmp:
        for name, frame in views.items():
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
        (tmp / "coverage.html").write_text(
            render_html(figures, cfg.min_coverage, "karpa: coverage and splits")
        )
        final = store.path("views", key)
        manifest = {
            "fingerprint": key,
            "path": str(final),
            "views": {n: len(f) for n, f in views.items()},
            "coverage": figures,
            "transductive": cfg.transductive,
        }
        write_manifest(tmp, manifest)
    return _checked(AlignManifest(**manifest), cfg)


def _checked(result: AlignManifest, cfg: AlignConfig) -> AlignManifest:
    """Attach the stop sentence when coverage is short. The views stay in the store (they
    are correct, and a re-run stops the same way without rebuilding), but nothing
    downstream may use them: see `raise_if_stopped`."""
    stop = check_thresholds(result.coverage, cfg.min_coverage)
    if stop:
        stop = f"{stop}; report: {Path(result.path) / 'coverage.html'}"
    return result.model_copy(update={"stop": stop})


def load_view(manifest: AlignManifest, name: str) -> pd.DataFrame:
    return pd.read_parquet(Path(manifest.path) / f"{name}.parquet")
