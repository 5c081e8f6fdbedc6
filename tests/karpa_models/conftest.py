"""Shared fixtures for karpa_models tests: one intra-op thread (the CI machine's two cores
are shared, and OpenMP's barriers stall badly when oversubscribed), tiny configs and a
small synthetic corpus."""

from __future__ import annotations

import dataclasses

import pytest

from karpa_models.config import ModelConfig, TrainConfig, load_preset
from karpa_models.corpus import PretrainCorpus
from karpa_models.synthetic import synthetic_corpus


@pytest.fixture(scope="session")
def corpus() -> PretrainCorpus:
    return synthetic_corpus(seed=0, n_texts=120, n_captions=120, n_items=40, n_users=30)


def small_configs(**train_overrides) -> tuple[ModelConfig, TrainConfig]:
    """The tiny preset, shrunk further so that a step costs a few milliseconds."""
    model, train = load_preset("tiny")
    model = dataclasses.replace(
        model,
        embed_dim=32,
        text=dataclasses.replace(model.text, width=32, layers=1, heads=2, max_len=32),
        image=dataclasses.replace(model.image, width=32, layers=1, heads=2),
        behaviour=dataclasses.replace(model.behaviour, width=32, layers=1, heads=2, max_len=16),
    )
    base = dict(
        steps=6,
        warmup_steps=2,
        batch_text=16,
        batch_pairs=16,
        batch_sequences=8,
        batch_items=16,
        log_every=1,
        checkpoint_every=3,
        content_refresh_every=2,
        device="cpu",  # exact resume is a CPU promise; the GPU smoke test asks for cuda
    )
    return model, dataclasses.replace(train, **{**base, **train_overrides})


@pytest.fixture
def make_configs():
    """small_configs as a fixture: make_configs(steps=10, lr=...) -> (ModelConfig, TrainConfig)."""
    return small_configs
