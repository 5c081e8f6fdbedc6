"""Tiny trained models for the tracking tests: a classifier decided by one keyword, and a
recommender over a catalogue users walk in steps of +1."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from karpa.evaluation.ranking import validation_metrics
from karpa_models.config import load_preset
from karpa_models.finetune.catalogue import ItemCatalogue
from karpa_models.finetune.classifier import train_classifier
from karpa_models.finetune.config import ClassifierConfig, RecommenderConfig
from karpa_models.finetune.next_item import train_recommender
from karpa_models.finetune.scratch import scratch_foundation

WORDS = {
    "refund": ("refund", "reimburse"),
    "delivery": ("parcel", "courier"),
    "login": ("password", "signin"),
}
FILLER = ("hello", "please", "my", "order", "today", "thanks", "the", "is", "help")
N_ITEMS = 30


def _cfg():
    cfg, _ = load_preset("tiny")
    small = dict(width=32, layers=1, heads=2)
    return dataclasses.replace(
        cfg,
        embed_dim=32,
        text=dataclasses.replace(cfg.text, max_len=24, **small),
        image=dataclasses.replace(cfg.image, **small),
        behaviour=dataclasses.replace(cfg.behaviour, max_len=12, n_items=N_ITEMS, **small),
    )


def _texts(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = sorted(WORDS)[i % 3]
        words = list(rng.choice(FILLER, size=int(rng.integers(3, 7))))
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(WORDS[label])))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


@pytest.fixture(scope="package")
def keyword_classifier():
    """-> (classifier, train texts, train labels)."""
    train_x, train_y = _texts(150, 0)
    val_x, val_y = _texts(30, 1)
    model, tok = scratch_foundation(_cfg(), train_x * 3, seed=0)
    cfg = ClassifierConfig(
        mode="full", epochs=15, batch_size=16, lr=3e-3, encoder_lr_scale=1.0, patience=30,
        device="cpu",
    )  # fmt: skip
    return train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg), train_x, train_y


def _walks(n_users: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, N_ITEMS, n_users)
    return [[(s + j) % N_ITEMS for j in range(int(rng.integers(4, 9)))] for s in starts]


@pytest.fixture(scope="package")
def walk_recommender():
    """A recommender whose next item is the last history item + 1."""
    texts = [f"item number {i}" for i in range(N_ITEMS)]
    catalogue = ItemCatalogue([f"I{i:03d}" for i in range(N_ITEMS)], texts)
    model, tok = scratch_foundation(_cfg(), texts * 4, seed=0)
    val = _walks(40, 1)
    cfg = RecommenderConfig(epochs=25, batch_size=32, lr=3e-3, patience=25, device="cpu")
    return train_recommender(
        model, tok, catalogue, _walks(120, 0), [s[:-1] for s in val], [s[-1] for s in val],
        cfg, val_metrics=validation_metrics,
    )  # fmt: skip
