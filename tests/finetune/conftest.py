"""Fixtures for fine-tuning tests: one intra-op thread, a shrunken tiny architecture, a
keyword-separable text task and a sequential item world."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from karpa_models.config import ModelConfig, load_preset
from karpa_models.finetune.catalogue import ItemCatalogue
from karpa_models.finetune.scratch import scratch_foundation

CLASS_WORDS = {
    "refund": ("refund", "reimburse", "repay"),
    "delivery": ("parcel", "courier", "shipping"),
    "login": ("password", "login", "signin"),
}
FILLER = ("hello", "please", "my", "order", "today", "thanks", "the", "is", "help", "with")


def keyword_texts(n: int, seed: int) -> tuple[list[str], list[str]]:
    """n texts, each with one keyword of its class among filler words (balanced classes)."""
    rng = np.random.default_rng(seed)
    names = sorted(CLASS_WORDS)
    texts, labels = [], []
    for i in range(n):
        label = names[i % len(names)]
        words = list(rng.choice(FILLER, size=int(rng.integers(3, 7))))
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(CLASS_WORDS[label])))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


@pytest.fixture(scope="session")
def model_cfg() -> ModelConfig:
    """The tiny preset shrunk so that a step costs milliseconds; 30 catalogue items."""
    cfg, _ = load_preset("tiny")
    return dataclasses.replace(
        cfg,
        embed_dim=32,
        text=dataclasses.replace(cfg.text, width=32, layers=1, heads=2, max_len=24),
        image=dataclasses.replace(cfg.image, width=32, layers=1, heads=2),
        behaviour=dataclasses.replace(
            cfg.behaviour, width=32, layers=1, heads=2, max_len=12, n_items=30
        ),
    )


def cycle_sequences(n_users: int, n_items: int, seed: int, cold: set[int]) -> list[list[int]]:
    """Users walk the catalogue in steps of +1 (mod n_items), skipping `cold` items, from
    a random start: the next item is fully determined by the last one."""
    rng = np.random.default_rng(seed)
    walk = [i for i in range(n_items) if i not in cold]
    out = []
    for _ in range(n_users):
        start = int(rng.integers(0, len(walk)))
        length = int(rng.integers(4, 9))
        out.append([walk[(start + j) % len(walk)] for j in range(length)])
    return out


@pytest.fixture(scope="session")  # a plain function: module fixtures may use it too
def make_texts():
    return keyword_texts


@pytest.fixture(scope="session")
def make_sequences():
    return cycle_sequences


@pytest.fixture
def make_item_world(model_cfg):
    """make_item_world(n_items, cold) -> (catalogue, foundation, tokenizer, 120 training
    walks, 40 validation histories, their next items): walks that skip `cold` items, a
    scratch foundation whose vocabulary covers the item texts, leave-last-out validation."""

    def make(n_items: int, cold: set[int]):
        seqs = cycle_sequences(120, n_items, seed=0, cold=cold)
        colours = ("red", "blue", "green")
        texts = [f"item number {i} colour {colours[i % 3]}" for i in range(n_items)]
        catalogue = ItemCatalogue([f"I{i:03d}" for i in range(n_items)], texts)
        model, tok = scratch_foundation(model_cfg, texts * 4, seed=0)
        # Leave-last-out: history = all but the last item, target = the last.
        val = cycle_sequences(40, n_items, seed=1, cold=cold)
        return catalogue, model, tok, seqs, [s[:-1] for s in val], [s[-1] for s in val]

    return make
