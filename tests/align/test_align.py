"""Alignment on a hand-built world: joins, orphans, splits, leakage, k-shot, coverage."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from karpa.align.splits import (
    hash_split,
    leave_last_out,
    stratified_hash_split,
    stratified_k_shot,
)
from karpa.align.stage import align, load_view
from karpa.config import AlignConfig
from karpa.errors import StageStop
from karpa.manifests import TableManifest, raise_if_stopped
from karpa.schema import TABLES
from karpa.store import Store

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def _png(rgb) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), rgb).save(buf, format="PNG")
    return buf.getvalue()


def _write(tmp_path, name: str, frame: pd.DataFrame) -> TableManifest:
    schema = TABLES[name]
    for field in schema:
        if field.name not in frame:
            frame[field.name] = None
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    path = tmp_path / f"{name}.parquet"
    pq.write_table(table, path)
    return TableManifest(
        table=name,
        fingerprint=f"fp-{name}-{len(frame)}",
        path=str(path),
        rows=len(frame),
        bytes=path.stat().st_size,
    )


@pytest.fixture
def world(tmp_path):
    items = pd.DataFrame(
        {
            "item_id": ["I3", "I1", "I2", "I4"],
            "title": ["green hat", "red scarf", "blue shoe", "odd"],
            "description": ["a hat in green wool", "a warm red scarf", "a blue shoe", None],
            "category": ["hat", "scarf", "shoe", "misc"],
        }
    )
    images = pd.DataFrame(
        {
            "image_id": ["I1__0", "I2__0", "I2__1", "IX__0", "I3__0"],
            "item_id": ["I1", "I2", "I2", "IX", "I3"],
            "bytes": [
                _png((255, 0, 0)),
                _png((0, 0, 255)),
                _png((0, 0, 200)),
                _png((0, 0, 0)),
                b"not a png",
            ],
        }
    )
    ev = []
    # U1: I1 view, I1 click (same item: one interaction), I2, I3, I4 -> 4 interactions
    for minute, item, kind in [
        (0, "I1", "view"),
        (1, "I1", "click"),
        (2, "I2", "view"),
        (90, "I3", "view"),
        (91, "I4", "purchase"),
    ]:
        ev.append(("U1", item, kind, T0 + pd.Timedelta(minutes=minute), None))
    ev.append(("U1", "I4", "purchase", T0 + pd.Timedelta(minutes=91), None))  # exact dup
    ev.append(("U2", "I2", "view", T0, "s9"))
    ev.append(("U2", "IX", "view", T0 + pd.Timedelta(minutes=1), "s9"))  # unknown item
    events = pd.DataFrame(ev, columns=["user_id", "item_id", "event_type", "ts", "session_id"])
    n = 200
    messages = pd.DataFrame(
        {
            "message_id": [f"m{i:03d}" for i in range(n)],
            "user_id": ["U1" if i % 2 else None for i in range(n)],
            "text": [f"message number {i}" for i in range(n)],
            "ts": [T0 + pd.Timedelta(minutes=100 + i) for i in range(n)],
            "intent": [["a", "b", "oos"][i % 3] if i % 4 else None for i in range(n)],
        }
    )
    news = pd.DataFrame(
        {
            "news_id": [f"n{i:03d}" for i in range(60)],
            "ts": [T0] * 60,
            "headline": [f"ACME sells more scarf {i}" for i in range(60)],
            "entities": [["ACME"]] * 60,
            "sentiment": [["positive", "negative", "neutral"][i % 3] for i in range(60)],
        }
    )
    frames = {
        "items": items,
        "images": images,
        "events": events,
        "messages": messages,
        "news": news,
    }
    return {name: _write(tmp_path, name, f) for name, f in frames.items()}


CFG = AlignConfig(k_shots=[2, 5], fewshot_seeds=[0, 1], min_coverage={}, held_out_pairs=0.0)


def test_joins_orphans_and_sequences(world, tmp_path):
    m = align(world, CFG, Store(tmp_path / "store"))
    items = load_view(m, "items").set_index("item_id")
    assert list(items["item_idx"].sort_values()) == [0, 1, 2, 3]
    assert items.loc["I1", "has_image"] and items.loc["I2", "has_image"]
    assert not items.loc["I3", "has_image"]  # its only image does not decode
    pairs = load_view(m, "image_text")
    assert sorted(pairs["image_id"]) == ["I1__0", "I2__0", "I2__1"]  # IX orphan, I3 corrupt
    assert len(bytes(pairs["pixels"][0])) == 32 * 32 * 3
    assert m.coverage["images.orphan_or_undecodable"] == 2
    assert m.coverage["orphans.event_unknown_item"] == 1
    assert m.coverage["orphans.event_exact_duplicate"] == 1
    seq = load_view(m, "sequences").set_index("user_id")
    idx = items["item_idx"]
    assert list(seq.loc["U1", "items"]) == [idx["I1"], idx["I2"], idx["I3"], idx["I4"]]
    assert list(seq.loc["U1", "train_items"]) == [idx["I1"], idx["I2"]]
    assert seq.loc["U1", "val_item"] == idx["I3"] and seq.loc["U1", "test_item"] == idx["I4"]
    assert seq.loc["U1", "n_sessions"] == 2  # 88 minutes of silence start a new session
    assert pd.isna(seq.loc["U2", "test_item"])  # one interaction: nothing to hold out
    msgs = load_view(m, "messages").set_index("message_id")
    assert list(msgs.loc["m001", "recent_items"]) == [idx["I4"], idx["I3"], idx["I2"]]
    assert list(msgs.loc["m000", "recent_items"]) == []


def test_coverage_figures_by_hand(world, tmp_path):
    cov = align(world, CFG, Store(tmp_path / "store")).coverage
    assert cov["items.count"] == 4
    assert cov["items.share_with_image"] == pytest.approx(2 / 4)
    assert cov["items.share_with_events"] == pytest.approx(4 / 4)
    assert cov["items.share_with_text"] == pytest.approx(3 / 4)  # I4 has no description
    assert cov["users.count"] == 2 and cov["users.evaluable"] == 1
    assert cov["messages.share_labeled"] == pytest.approx(150 / 200)


def test_splits_disjoint_stable_and_leak_free(world, tmp_path):
    m = align(world, CFG, Store(tmp_path / "store"))
    msgs = load_view(m, "messages")
    assert set(msgs["split"]) == {"train", "val", "test"}
    shuffled = msgs.sample(frac=1.0, random_state=3)
    again = hash_split(shuffled["message_id"], CFG.salt, CFG.val_share, CFG.test_share)
    assert dict(zip(shuffled["message_id"], again, strict=True)) == dict(
        zip(msgs["message_id"], msgs["split"], strict=True)
    )
    texts = set(load_view(m, "pretrain_texts")["text"])
    held = msgs[msgs["split"] != "train"]["text"]
    assert held.size and not texts & set(held)
    news = load_view(m, "news")
    assert not texts & set(news[news["split"] != "train"]["text"])
    transductive = align(
        world, CFG.model_copy(update={"transductive": True}), Store(tmp_path / "store")
    )
    assert set(held) <= set(load_view(transductive, "pretrain_texts")["text"])
    assert transductive.transductive


def test_k_shot_subsets_exact(world, tmp_path):
    m = align(world, CFG, Store(tmp_path / "store"))
    shots = load_view(m, "fewshot")
    msgs = load_view(m, "messages").set_index("message_id")
    for (k, _seed), group in shots[shots["task"] == "intent"].groupby(["k", "seed"]):
        labels = msgs.loc[group["id"], "intent"]
        assert "oos" not in set(labels)  # out of scope is detected, never trained on
        assert (labels.value_counts() == k).all()
        assert (msgs.loc[group["id"], "split"] == "train").all()
    s0 = set(shots[(shots.k == 5) & (shots.seed == 0)]["id"])
    s1 = set(shots[(shots.k == 5) & (shots.seed == 1)]["id"])
    assert s0 != s1


def test_k_shot_is_order_free():
    labels = pd.Series(["a", "b"] * 20, index=[f"x{i}" for i in range(40)])
    first = stratified_k_shot(labels, 3, seed=7)
    second = stratified_k_shot(labels.sample(frac=1.0, random_state=1), 3, seed=7)
    assert sorted(first) == sorted(second) and len(first) == 6


def test_leave_last_out_edges():
    assert leave_last_out([1, 2]) == ([1, 2], None, None)
    assert leave_last_out([1, 2, 3]) == ([1], 2, 3)


def test_skipped_when_unchanged(world, tmp_path):
    store = Store(tmp_path / "store")
    first = align(world, CFG, store)
    again = align(world, CFG, store)
    assert again.skipped and again.fingerprint == first.fingerprint
    changed = align(world, CFG.model_copy(update={"salt": "other"}), store)
    assert not changed.skipped and changed.fingerprint != first.fingerprint


def test_threshold_stop_sentence(world, tmp_path):
    cfg = CFG.model_copy(update={"min_coverage": {"items.share_with_image": 0.9}})
    with pytest.raises(StageStop) as err:
        raise_if_stopped(align(world, cfg, Store(tmp_path / "store")))
    message = str(err.value)
    assert "items.share_with_image is 50.0%, below the minimum 90.0% (short by 40.0%)" in message
    assert "coverage.html" in message
    with pytest.raises(StageStop):  # a re-run with the same inputs stops the same way
        raise_if_stopped(align(world, cfg, Store(tmp_path / "store")))


def test_hash_split_shares():
    ids = pd.Series([f"id{i}" for i in range(20_000)])
    split = hash_split(ids, "s", 0.1, 0.2)
    assert abs(np.mean(split == "test") - 0.2) < 0.015
    assert abs(np.mean(split == "val") - 0.1) < 0.015


def test_stratified_hash_split_exact_shares_and_order_free():
    labels = pd.Series(
        ["pos"] * 50 + ["neg"] * 30 + ["neu"] * 120 + [None] * 40,
        index=[f"r{i}" for i in range(240)],
    )
    ids = pd.Series([f"id{i}" for i in range(240)], index=labels.index)
    split = pd.Series(stratified_hash_split(ids, labels, "s", 0.1, 0.2), index=labels.index)
    for label, n in (("pos", 50), ("neg", 30), ("neu", 120)):
        counts = split[labels == label].value_counts()
        assert counts["test"] == round(0.2 * n) and counts["val"] == round(0.1 * n)
    unlabeled = labels.isna()  # rows without a label keep the plain hash split
    plain = hash_split(ids, "s", 0.1, 0.2)
    assert (split[unlabeled].to_numpy() == plain[unlabeled.to_numpy()]).all()
    order = np.random.default_rng(0).permutation(240)
    again = stratified_hash_split(ids.iloc[order], labels.iloc[order], "s", 0.1, 0.2)
    assert dict(zip(ids.iloc[order], again, strict=True)) == dict(zip(ids, split, strict=True))
    other = stratified_hash_split(ids, labels, "t", 0.1, 0.2)  # another salt, another split
    assert (other != split.to_numpy()).any()


def test_stratify_option_splits_news_by_label(world, tmp_path):
    store = Store(tmp_path / "store")
    plain = align(world, CFG, store)
    strat = align(world, CFG.model_copy(update={"stratify": True}), store)
    assert strat.fingerprint != plain.fingerprint
    news = load_view(strat, "news")
    for _, group in news.groupby("sentiment"):  # 20 headlines per sentiment
        assert group["split"].value_counts().to_dict() == {"train": 14, "test": 4, "val": 2}
    # Off by default, and then views and fingerprints are today's.
    assert AlignConfig().stratify is False
    assert align(world, CFG, store).fingerprint == plain.fingerprint


@pytest.mark.parametrize("batch", [1, 2])
def test_image_views_do_not_depend_on_the_image_batch(world, tmp_path, monkeypatch, batch):
    whole = align(world, CFG, Store(tmp_path / "whole"))  # five images: one batch
    monkeypatch.setattr("karpa.align.stage.IMAGE_BATCH", batch)
    batched = align(world, CFG, Store(tmp_path / "batched"))
    assert batched.coverage == whole.coverage
    for name in ("items", "image_text"):
        a = pq.read_table(f"{whole.path}/{name}.parquet")
        b = pq.read_table(f"{batched.path}/{name}.parquet")
        assert a.schema.equals(b.schema, check_metadata=True) and a.equals(b), name
