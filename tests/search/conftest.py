"""A tiny demo world taken through the real ingest, validate and align stages once per
session, and a run config whose search trials cost seconds on a loaded 2-core CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from karpa.align.stage import align, split_hints
from karpa.config import RunConfig, load_config
from karpa.demo import generate_world
from karpa.ingest.stage import ingest_table
from karpa.store import Store
from karpa.validation.stage import validate

# Small towers, a few pretraining and fine-tuning steps per trial, few timed requests.
TINY_SEARCH = [
    "search.pretrain_steps=6",
    "search.finetune_steps=12",
    "search.latency_requests=5",
    "search.prune_startup_trials=1",
    "search.space={width: [16, 32], layers: [1], heads: [2], mlp_ratio: [2], "
    "patch_size: [8, 16], behaviour_max_len: [8], lr: {low: 0.0003, high: 0.003, log: true}, "
    "loss_weights: {}, finetune_lr: {low: 0.00001, high: 0.01, log: true}}",
    "pretrain.progress=false",
    "pretrain.device=cpu",
    "finetune.device=cpu",
    "pretrain.max_texts=400",
    "finetune.intent={batch_size: 16}",
]


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def search_world(tmp_path_factory) -> tuple[Path, Path]:
    """(the demo world's data folder, its aligned views folder)."""
    root = tmp_path_factory.mktemp("search-world")
    generate_world(root / "data", scale=0.1, seed=3)
    cfg = load_config("demo", data_root=str(root / "data"))
    store = Store(root / "store")
    tables = {
        table: ingest_table(table, spec, cfg.data.root, cfg.ingest, store)
        for table, spec in cfg.data.sources.items()
    }
    validated = validate(tables, cfg.validate_, store)
    views = align(validated.accepted, cfg.align, store, split_hints(cfg.data.sources))
    return root / "data", Path(views.path)


def search_config(data: Path, *extra: str) -> RunConfig:
    return load_config("demo", [*TINY_SEARCH, *extra], data_root=str(data))
