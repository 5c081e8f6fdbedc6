"""Fine-tuning the foundation model into applications, in plain PyTorch.

Public API (imported lazily, so `import karpa_models.finetune` does not import torch):
    ClassifierConfig, RecommenderConfig                      recipes (frozen dataclasses)
    train_classifier(foundation, tokenizer, train_texts, train_labels, val_texts,
                     val_labels, cfg, classes=None, features=None, on_metrics=None)
        -> FineTunedClassifier  (.predict_proba(texts) -> (n, C), .predict(texts))
    TextFeatures(text_tower, tokenizer, max_len, runtime)     memoised frozen features
    scratch_foundation(model_cfg, texts, tokenizer=None, seed=0) -> (FoundationModel, Tokenizer)
    ItemCatalogue(item_ids, texts, images=None, has_image=None)
    train_recommender(foundation, tokenizer, catalogue, train_sequences, val_histories,
                      val_targets, cfg, decoder_state=None, on_metrics=None)
        -> FineTunedRecommender (.score(histories) -> (U, I), .recommend(history, k))
    pretrained_item_decoder(checkpoint_path) -> state dict | None
    save_classifier(clf, folder) / load_classifier(folder, device="cpu")
    save_recommender(rec, folder) / load_recommender(folder, device="cpu")
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ClassifierConfig": "karpa_models.finetune.config",
    "RecommenderConfig": "karpa_models.finetune.config",
    "TextClassifier": "karpa_models.finetune.classifier",
    "train_classifier": "karpa_models.finetune.classifier",
    "TextFeatures": "karpa_models.finetune.text",
    "scratch_foundation": "karpa_models.finetune.scratch",
    "ItemCatalogue": "karpa_models.finetune.catalogue",
    "NextItemRecommender": "karpa_models.finetune.recommender",
    "pretrained_item_decoder": "karpa_models.finetune.recommender",
    "train_recommender": "karpa_models.finetune.next_item",
    "FineTunedClassifier": "karpa_models.finetune.predictors",
    "FineTunedRecommender": "karpa_models.finetune.predictors",
    "save_classifier": "karpa_models.finetune.saved",
    "load_classifier": "karpa_models.finetune.saved",
    "save_recommender": "karpa_models.finetune.saved",
    "load_recommender": "karpa_models.finetune.saved",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'karpa_models.finetune' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
