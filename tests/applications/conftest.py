"""A small synthetic views folder in the shapes karpa.align.stage writes, and a tiny
foundation pretrained on it for a handful of steps (the real `pretrain` entry point)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from karpa.evaluation.perturb import TEXT_PERTURBATIONS
from karpa_models.config import load_preset
from karpa_models.corpus import PretrainCorpus
from karpa_models.pretraining import pretrain

T0 = pd.Timestamp("2026-01-01", tz="UTC")
N_ITEMS = 30
COLD = (7, 19)  # never in a training sequence; some users' test item
INTENTS = {
    "refund": ("refund", "reimburse", "repay", "money back"),
    "delivery": ("parcel", "courier", "shipping", "delivery"),
    "login": ("password", "login", "signin", "account locked"),
}
OOS = ("weather", "football", "recipe", "holiday")
SENTIMENTS = {
    "positive": ("soars", "beats", "record profit", "surges"),
    "negative": ("plunges", "misses", "recall", "lawsuit"),
    "neutral": ("names", "announces", "schedules", "appoints"),
}
FILLER = ("hello", "please", "my", "order", "today", "thanks", "the", "is", "help", "with")


def _texts(rng, words, n_extra=(3, 7)):
    body = list(rng.choice(FILLER, size=int(rng.integers(*n_extra))))
    body.insert(int(rng.integers(0, len(body) + 1)), str(rng.choice(words)))
    return " ".join(body)


def _messages(rng) -> pd.DataFrame:
    rows = []
    plan = {"train": 120, "val": 40, "test": 60}
    for split, n in plan.items():
        for i in range(n):
            if i % 8 == 7 and split != "train":
                intent, text = "oos", _texts(rng, OOS)
            elif i % 5 == 4 and split == "train":
                intent, text = None, _texts(rng, sum(INTENTS.values(), ()))  # unlabeled
            else:
                intent = sorted(INTENTS)[i % 3]
                text = _texts(rng, INTENTS[intent])
            rows.append(
                {
                    "message_id": f"M{split[:2]}{i:04d}",
                    "user_id": f"U{i % 20:03d}",
                    "text": text,
                    "ts": T0 + pd.Timedelta(minutes=i),
                    "intent": intent,
                    "split": split,
                    "n_words": len(text.split()),
                    "recent_items": [],
                }
            )
    return pd.DataFrame(rows)


def _news(rng) -> pd.DataFrame:
    rows = []
    weights = {"neutral": 0.5, "positive": 0.3, "negative": 0.2}  # imbalanced
    for split, n in {"train": 90, "val": 30, "test": 45}.items():
        labels = rng.choice(list(weights), size=n, p=list(weights.values()))
        for i, label in enumerate(labels):
            text = "Acme " + _texts(rng, SENTIMENTS[label])
            rows.append(
                {
                    "news_id": f"N{split[:2]}{i:04d}",
                    "ts": T0,
                    "text": text,
                    "sentiment": label,
                    "split": split,
                    "entities": ["ACME"],
                    "categories": [],
                }
            )
    return pd.DataFrame(rows)


def _items(rng) -> pd.DataFrame:
    colours = ("red", "blue", "green")
    rows = []
    for i in range(N_ITEMS):
        colour = colours[i % 3]
        pixels = None
        if i % 4:
            img = np.zeros((32, 32, 3), np.uint8)
            img[:] = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 190, 40)}[colour]
            pixels = img.tobytes()
        rows.append(
            {
                "item_idx": i,
                "item_id": f"I{i:03d}",
                "title": f"{colour} mug {i}",
                "text": f"{colour} mug number {i}. a {colour} mug (mug)",
                "category": "mug",
                "attributes": json.dumps({"colour": colour}),
                "has_image": pixels is not None,
                "pixels": pixels,
                "n_events": 0,
                "created_at": T0,
            }
        )
    return pd.DataFrame(rows)


def _sequences(rng) -> pd.DataFrame:
    """Users walk the warm items in steps of +1: the next item is set by the last one.
    Every fifth user's test item is a cold item instead; two users are too short to test."""
    walk = [i for i in range(N_ITEMS) if i not in COLD]
    rows = []
    for u in range(80):
        start = int(rng.integers(0, len(walk)))
        seq = [walk[(start + j) % len(walk)] for j in range(int(rng.integers(5, 10)))]
        if u % 5 == 0:
            seq[-1] = COLD[u % 2]
        if u >= 78:
            seq = seq[:2]
        val, test = (seq[-2], seq[-1]) if len(seq) >= 3 else (None, None)
        train = seq[:-2] if len(seq) >= 3 else seq
        rows.append(
            {
                "user_id": f"U{u:03d}",
                "items": seq,
                "train_items": train,
                "val_item": val,
                "test_item": test,
                "n_interactions": len(seq),
                "n_sessions": 1,
                "last_ts": T0,
            }
        )
    frame = pd.DataFrame(rows)
    frame["val_item"] = frame["val_item"].astype("Int64")
    frame["test_item"] = frame["test_item"].astype("Int64")
    return frame


def _fewshot(messages: pd.DataFrame, news: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for task, frame, id_col, label in (
        ("intent", messages, "message_id", "intent"),
        ("sentiment", news, "news_id", "sentiment"),
    ):
        train = frame[(frame["split"] == "train") & frame[label].notna()]
        for k in (2, 4):
            for seed in (0, 1):
                for _, group in train.groupby(label):
                    if group[label].iloc[0] == "oos":
                        continue
                    take = group.sample(n=min(k, len(group)), random_state=seed)
                    rows += [(task, k, seed, i) for i in take[id_col]]
    return pd.DataFrame(rows, columns=["task", "k", "seed", "id"])


@pytest.fixture(scope="session")
def views_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    out = tmp_path_factory.mktemp("views")
    messages, news, items, seqs = _messages(rng), _news(rng), _items(rng), _sequences(rng)
    texts = pd.concat(
        [
            pd.DataFrame({"text": items["text"], "origin": "item"}),
            pd.DataFrame(
                {"text": messages.loc[messages["split"] == "train", "text"], "origin": "message"}
            ),
            pd.DataFrame({"text": news.loc[news["split"] == "train", "text"], "origin": "news"}),
        ],
        ignore_index=True,
    )
    pairs = items[items["has_image"]].rename(columns={"text": "caption"})
    pairs = pairs.assign(image_id=pairs["item_id"] + "__0", split="train")
    views = {
        "messages": messages,
        "news": news,
        "items": items,
        "sequences": seqs,
        "fewshot": _fewshot(messages, news),
        "pretrain_texts": texts,
        "image_text": pairs[["image_id", "item_idx", "item_id", "caption", "pixels", "split"]],
    }
    for name, frame in views.items():
        frame.to_parquet(out / f"{name}.parquet", index=False)
    return out


@pytest.fixture(scope="session")
def foundation_ckpt(views_dir, tmp_path_factory):
    """A tiny foundation pretrained for a few steps on the views (every objective on)."""
    items = pd.read_parquet(views_dir / "items.parquet").sort_values("item_idx")
    texts = pd.read_parquet(views_dir / "pretrain_texts.parquet")
    seqs = pd.read_parquet(views_dir / "sequences.parquet")
    has = items["has_image"].to_numpy(bool)
    images = np.zeros((len(items), 32, 32, 3), np.uint8)
    for row in np.flatnonzero(has):
        images[row] = np.frombuffer(items["pixels"].iloc[row], np.uint8).reshape(32, 32, 3)
    corpus = PretrainCorpus(
        texts=texts.loc[texts["origin"] != "item", "text"].tolist(),
        item_texts=items["text"].tolist(),
        item_images=images,
        item_has_image=has,
        sequences=[np.asarray(s, np.int64) for s in seqs["train_items"]],
    )
    model, train = load_preset("tiny")
    model = dataclasses.replace(
        model,
        embed_dim=32,
        text=dataclasses.replace(model.text, width=32, layers=1, heads=2, max_len=24),
        image=dataclasses.replace(model.image, width=32, layers=1, heads=2),
        behaviour=dataclasses.replace(model.behaviour, width=32, layers=1, heads=2, max_len=12),
    )
    train = dataclasses.replace(
        train,
        steps=4,
        warmup_steps=1,
        batch_text=16,
        batch_pairs=8,
        batch_sequences=8,
        batch_items=8,
        log_every=2,
        checkpoint_every=4,
        content_refresh_every=2,
        device="cpu",
    )
    result = pretrain(corpus, model, train, tmp_path_factory.mktemp("foundation"))
    return result.checkpoint_path


def _check_text_robustness(report) -> None:
    """What every text application's report must show for robustness (called from the
    intent and sentiment test modules, on the report their fixture built)."""
    robust = [r for r in report.slices if r["slice"] == "robustness"]
    buckets = list(dict.fromkeys(r["bucket"] for r in robust))
    assert buckets == ["clean", *TEXT_PERTURBATIONS]
    by = {(r["bucket"], r["metric"]): r for r in robust}
    clean = by[("clean", "accuracy")]
    # The clean bucket is the main model on the sampled test texts: its accuracy there
    # matches the headline when the sample is the whole test split.
    assert clean["n"] == report.data["test"]
    assert abs(clean["value"] - report.metrics["accuracy"]) < 1e-9
    for bucket in buckets:
        for metric in ("accuracy", "macro_f1"):
            r = by[(bucket, metric)]
            assert r["low"] is not None and r["low"] <= r["value"] <= r["high"], r
    assert by[("casing", "changed")]["value"] == 1.0
    flat = report.flat_metrics()
    for bucket in buckets:
        assert f"slice/robustness/{bucket}/accuracy" in flat
        assert f"slice/robustness/{bucket}/macro_f1" in flat
    assert "robustness" in report.protocol and report.timings["robustness_s"] > 0
    card = Path(report.artifacts["model_card"]["markdown"]).read_text()
    assert "| robustness | typo_drop |" in card
    # The same records as a picture, in the report's plots and the card.
    plot = Path(report.artifacts["plots"]["robustness"])
    assert plot.read_bytes()[:4] == b"\x89PNG" and f"]({plot.name})" in card


@pytest.fixture
def check_text_robustness():
    """The robustness checks every text application's report must pass."""
    return _check_text_robustness
