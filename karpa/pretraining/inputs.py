"""What pretraining reads, built from the aligned views alone: by the pretrain stage in
its own process, and by every torchrun worker (karpa/pretraining/worker.py), which thus
all build the very same inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from karpa.config import PretrainConfig
from karpa.pretraining.checks_data import checks_data, split_held
from karpa.pretraining.corpus import build_corpus
from karpa_models.checks import ChecksData
from karpa_models.corpus import PretrainCorpus, RetrievalSet


@dataclass
class PretrainInputs:
    """The corpus, the held-out retrieval pairs, the pairs the checks use and the
    checks' validation data."""

    corpus: PretrainCorpus
    held: RetrievalSet
    check_pairs: RetrievalSet
    checks: ChecksData


def pretrain_inputs(views: Path, cfg: PretrainConfig, seed: int) -> PretrainInputs:
    model_cfg, _ = cfg.model_configs(seed)
    corpus, held = build_corpus(views, model_cfg.image.image_size, cfg.max_texts, seed)
    check_pairs, held = split_held(held)
    data = checks_data(views, check_pairs, cfg.checks.max_val, seed)
    return PretrainInputs(corpus, held, check_pairs, data)
