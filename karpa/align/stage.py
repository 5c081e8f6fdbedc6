"""The align stage: accepted tables -> aligned views in the store, plus coverage.

Keyed by the accepted tables' fingerprints and the align config, so it is skipped when
neither changed.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from karpa.align import events as event_files
from karpa.align.coverage import check_thresholds, coverage, render_html
from karpa.align.splits import TRAIN, stratified_k_shot
from karpa.align.views import (
    add_first_images,
    build_items,
    build_messages,
    build_news,
    build_sequences,
    decode_pairs,
    image_pairs,
    item_index,
    pretrain_texts,
    recent_items,
)
from karpa.allocators import free_cycles, new_objects_only, return_freed_memory
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
# Images decoded at once in alignment: their bytes and pixels as Python objects.
IMAGE_BATCH = 1_000
# The image_text view's Arrow types, given rather than inferred batch by batch (they are
# the types the whole view infers).
PAIRS_SCHEMA = pa.schema(
    [
        ("image_id", pa.large_string()),
        ("item_idx", pa.int64()),
        ("item_id", pa.large_string()),
        ("caption", pa.large_string()),
        ("pixels", pa.binary()),
        ("split", pa.large_string()),
    ]
)
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
    return_freed_memory()
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

    with store.writing("views", key) as tmp, new_objects_only():
        manifest = _build(tables, cfg, hints, tmp)
        manifest.update(fingerprint=key, path=str(store.path("views", key)))
        write_manifest(tmp, manifest)
    return _checked(AlignManifest(**manifest), cfg)


def _build(
    tables: dict[str, TableManifest], cfg: AlignConfig, hints: dict[str, str], out: Path
) -> dict:
    """Write every view and the coverage report into `out`; the manifest's fields but
    the fingerprint and path. Each table is read when its views are built and let go
    after; the events, the largest, a batch of users at a time."""
    items = _read(tables, "items", ITEM_COLUMNS)
    index = item_index(items)
    messages = build_messages(
        _read(tables, "messages", MESSAGE_COLUMNS),
        cfg.salt,
        cfg.val_share,
        cfg.test_share,
        hints.get("messages"),
        cfg.stratify,
    )
    events = _events_by_user(tables, index, messages, cfg, out)
    free_cycles()
    messages["recent_items"] = events.recent_items
    item_view = build_items(items, events.item_counts)
    images = _read(tables, "images", ["image_id", "item_id"])  # the bytes a batch at a time
    pairs = image_pairs(images, item_view, cfg.salt, cfg.held_out_pairs)
    images_in = len(images)
    del items, images  # each table is let go once its views are built
    first, pairs = _image_text(tables, pairs, cfg.image_size, out)
    free_cycles()
    item_view = add_first_images(item_view, first)
    item_view.to_parquet(out / "items.parquet", index=False)
    written = {"sequences": len(events.users), "items": len(item_view), "image_text": len(pairs)}
    # Coverage and the texts need no pixels.
    item_view = item_view.drop(columns="pixels")
    del first
    free_cycles()
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
    free_cycles()
    # The pretraining texts copy every text: written, and let go, before the other views
    # are converted for writing.
    texts = pretrain_texts(item_view, messages, news, cfg.transductive)
    texts.to_parquet(out / "pretrain_texts.parquet", index=False)
    n_texts = len(texts)
    del texts
    free_cycles()
    shots = pd.concat(
        [
            fewshot(messages, "message_id", "intent", "intent", cfg),
            fewshot(news, "news_id", "sentiment", "sentiment", cfg),
        ],
        ignore_index=True,
    )
    figures = coverage(item_view, pairs, images_in, events.users, messages, news, events.orphans)

    splits = pd.concat(
        [
            pd.DataFrame(
                {"table": "messages", "id": messages["message_id"], "split": messages["split"]}
            ),
            pd.DataFrame({"table": "news", "id": news["news_id"], "split": news["split"]}),
        ],
        ignore_index=True,
    )
    views = {"splits": splits, "messages": messages, "news": news, "fewshot": shots}
    lengths = {n: len(f) for n, f in views.items()}
    for name, frame in views.items():
        frame.to_parquet(out / f"{name}.parquet", index=False)
        free_cycles()  # the conversion's
    (out / "coverage.html").write_text(
        render_html(figures, cfg.min_coverage, "karpa: coverage and splits")
    )
    order = ["splits", "messages", "news", "pretrain_texts", "fewshot"]  # as always listed
    return {
        "views": written | {n: n_texts if n == "pretrain_texts" else lengths[n] for n in order},
        "coverage": figures,
        "transductive": cfg.transductive,
    }


class _ViewWriter:
    """Frames appended, a batch at a time, to one Parquet view with a fixed schema. A
    view that no frame filled is the last empty frame written whole, typed as the view
    always was. A context manager: the file is closed however the block ends."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path, self.schema = path, schema
        self._writer: pq.ParquetWriter | None = None
        self._empty: pd.DataFrame | None = None

    def add(self, frame: pd.DataFrame) -> None:
        if not len(frame):
            self._empty = frame
            return
        table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)

    def __enter__(self) -> _ViewWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self._writer is not None:
            self._writer.close()
        elif kind is None:
            if self._empty is None:  # a caller's bug: the view's shape is unknown
                raise RuntimeError(f"{self.path.name}: no frame was added, not even an empty one")
            self._empty.to_parquet(self.path, index=False)


@dataclass
class _EventViews:
    """What the other views and coverage need from the events, once all batches are in."""

    item_counts: pd.Series  # events per item id
    orphans: dict[str, int]
    users: pd.DataFrame  # per user of the sequences view: n_interactions, test_item
    recent_items: list[list[int]]  # per row of the messages view


def _events_by_user(
    tables: dict[str, TableManifest],
    index: dict[str, int],
    messages: pd.DataFrame,
    cfg: AlignConfig,
    out: Path,
) -> _EventViews:
    """Build the sequences view (written to `out`) and the messages' recent items from
    the events a batch of users at a time (`karpa.align.events`): what is held is one
    batch's events and sequences, not the table's."""
    path = tables["events"].path if "events" in tables else None
    counts, users, orphans = [], [], {}
    recent: list[list[int]] = [[] for _ in range(len(messages))]
    senders = messages["user_id"]
    with _ViewWriter(out / "sequences.parquet", _sequences_schema()) as view:
        batches = event_files.event_batches(
            path, EVENT_COLUMNS, out / ".events", event_files.BATCH_EVENTS
        )
        for events in batches:
            counts.append(events["item_id"].value_counts())
            sequences, found = build_sequences(events, index, cfg.session_gap_minutes)
            for name, n in found.items():
                orphans[name] = orphans.get(name, 0) + n
            users.append(sequences[["n_interactions", "test_item"]])
            here = np.flatnonzero(senders.isin(events["user_id"].dropna().unique()))
            found_recent = recent_items(messages.iloc[here], events, index, cfg.recent_items)
            for position, items in zip(here, found_recent, strict=True):
                recent[position] = items
            del events
            view.add(sequences)
            free_cycles()  # the batch's frames
    shutil.rmtree(out / ".events", ignore_errors=True)
    return _EventViews(
        item_counts=pd.concat(counts).groupby(level=0).sum(),
        orphans=orphans,
        users=pd.concat(users, ignore_index=True),
        recent_items=recent,
    )


def _image_text(
    tables: dict[str, TableManifest], pairs: pd.DataFrame, image_size: int, out: Path
) -> tuple[pd.Series, pd.DataFrame]:
    """Decode the images `IMAGE_BATCH` at a time, appending the image_text view to `out`;
    returns each item's first decoded image (pixels by item index) and the written
    pairs' splits (all coverage needs of them). The images' bytes stay in Arrow, and
    only a batch of them and of their pixels are Python objects at once."""
    blobs = (
        pq.read_table(tables["images"].path, columns=["bytes"]).column(0)
        if "images" in tables
        else pa.chunked_array([], pa.binary())
    )
    rows = pairs.index.to_numpy(dtype=np.int64)
    first: dict[int, bytes] = {}
    splits = []
    with _ViewWriter(out / "image_text.parquet", PAIRS_SCHEMA) as view:
        # At least one batch: with no pairs, the empty view keeps its usual shape.
        for start in range(0, max(len(pairs), 1), IMAGE_BATCH):
            part = slice(start, start + IMAGE_BATCH)
            decoded = decode_pairs(
                pairs.iloc[part], blobs.take(pa.array(rows[part])).to_pylist(), image_size
            )
            for item, pixels in zip(decoded["item_idx"], decoded["pixels"], strict=True):
                first.setdefault(item, pixels)
            splits.append(decoded[["split"]])
            view.add(decoded)
    return pd.Series(first, dtype=object), pd.concat(splits, ignore_index=True)


def _sequences_schema() -> pa.Schema:
    """The sequences view's Arrow types, given rather than inferred batch by batch: a
    batch whose users all have short sequences has only empty training lists, from
    which no list type can be inferred. They are the types the whole view infers."""
    return pa.schema(
        [
            ("user_id", pa.large_string()),
            ("items", pa.list_(pa.int64())),
            ("train_items", pa.list_(pa.int64())),
            ("val_item", pa.int64()),
            ("test_item", pa.int64()),
            ("n_interactions", pa.int64()),
            ("n_sessions", pa.int64()),
            ("last_ts", TABLES["events"].field("ts").type),
        ]
    )


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
