"""karpa_models: the multimodal foundation model and its self-supervised pretraining, in
plain PyTorch. No Prefect, no MLflow: inputs are Python and numpy, metrics leave through a
callback.

Public API (imported lazily, so `import karpa_models` does not import torch):
    train_tokenizer(texts, vocab_size) -> tokenizers.Tokenizer
    tokenizer_fingerprint(texts, vocab_size) -> str
    load_preset(name) -> (ModelConfig, TrainConfig)
    build_model(cfg) -> FoundationModel
    pretrain(corpus, model_cfg, train_cfg, out_dir, on_metrics, resume=True) -> PretrainResult
    load_foundation(checkpoint_path) -> (FoundationModel, Tokenizer, ModelConfig)
    evaluate_retrieval(model, tokenizer, held_out) -> dict[str, float]
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelConfig": "karpa_models.config",
    "TrainConfig": "karpa_models.config",
    "TextConfig": "karpa_models.config",
    "ImageConfig": "karpa_models.config",
    "BehaviourConfig": "karpa_models.config",
    "OBJECTIVES": "karpa_models.config",
    "load_preset": "karpa_models.config",
    "PretrainCorpus": "karpa_models.corpus",
    "RetrievalSet": "karpa_models.corpus",
    "CorpusError": "karpa_models.corpus",
    "train_tokenizer": "karpa_models.tokenizer",
    "tokenizer_fingerprint": "karpa_models.tokenizer",
    "save_tokenizer": "karpa_models.tokenizer",
    "load_tokenizer": "karpa_models.tokenizer",
    "FoundationModel": "karpa_models.model",
    "build_model": "karpa_models.model",
    "NonFiniteLossError": "karpa_models.engine",
    "PretrainResult": "karpa_models.pretraining",
    "pretrain": "karpa_models.pretraining",
    "load_foundation": "karpa_models.pretraining",
    "evaluate_retrieval": "karpa_models.retrieval",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'karpa_models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
