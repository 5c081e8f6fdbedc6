"""A tiny demo world taken through the real ingest, validate and align stages once per
session, a micro model preset, and search settings whose trials cost seconds on a loaded
2-core CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from karpa.align.stage import align, split_hints
from karpa.config import RunConfig, load_config
from karpa.demo import generate_world
from karpa.ingest.stage import ingest_table
from karpa.store import Store
from karpa.validation.stage import validate

MICRO_PRESET = """\
model:
  embed_dim: 32
  text: {vocab_size: 400, max_len: 24, width: 32, layers: 1, heads: 2, mlp_ratio: 2}
  image: {image_size: 32, patch_size: 8, width: 32, layers: 1, heads: 2, mlp_ratio: 2}
  behaviour: {max_len: 8, width: 32, layers: 1, heads: 2, mlp_ratio: 2}
train:
  steps: 4
  warmup_steps: 1
  batch_text: 16
  batch_pairs: 16
  batch_sequences: 8
  batch_items: 16
  text_views: crops
  log_every: 2
"""

# Two widths, two patch sizes and ranges of learning rates; fine-tune LRs that reach down
# to 1e-5 (a trial that learns nothing, for the pruner to stop).
TINY_SPACE = (
    "search.space={width: [16, 32], layers: [1], heads: [2], mlp_ratio: [2], "
    "patch_size: [8, 16], behaviour_max_len: [8], lr: {low: 0.0003, high: 0.003, log: true}, "
    "loss_weights: {text_contrastive: {low: 0.5, high: 2.0}}, "
    "finetune_lr: {low: 0.00001, high: 0.01, log: true}}"
)


def tiny_search(preset: Path) -> list[str]:
    return [
        f"pretrain.preset={preset}",
        "search.pretrain_steps=4",
        "search.finetune_steps=12",
        "search.latency_requests=5",
        "search.prune_startup_trials=1",
        TINY_SPACE,
        "pretrain.progress=false",
        "pretrain.device=cpu",
        "finetune.device=cpu",
        "pretrain.max_texts=300",
        "finetune.intent={batch_size: 16}",
    ]


@pytest.fixture(scope="session")
def micro_preset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("presets") / "micro.yaml"
    path.write_text(MICRO_PRESET)
    return path


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


@pytest.fixture(scope="session")
def search_overrides(micro_preset) -> list[str]:
    return tiny_search(micro_preset)


@pytest.fixture(scope="session")
def search_cfg(search_world, search_overrides):
    """search_cfg("search.trials=3", ...) -> the run config of a tiny search."""
    data, _ = search_world

    def make(*extra: str) -> RunConfig:
        return load_config("demo", [*search_overrides, *extra], data_root=str(data))

    return make
