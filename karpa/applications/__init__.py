"""The three applications, each fine-tuned from the foundation and evaluated in one call.

    run_intent(views_dir, foundation_ckpt, IntentConfig(), out_dir, on_metrics=None)
    run_sentiment(views_dir, foundation_ckpt, SentimentConfig(), out_dir, on_metrics=None)
    run_recommendation(views_dir, foundation_ckpt, RecommendationConfig(), out_dir,
                       on_metrics=None)
        -> AppReport (.to_dict(), .flat_metrics(), also written to out_dir/report.json)

Each call trains the model from the pretrained foundation, its scratch twin (the
ablation) and the classic baselines on the same split, and writes plots, a model card
(markdown + HTML) and the saved model folder (karpa_models.finetune.load_classifier /
load_recommender) into out_dir. Nothing here imports Prefect or MLflow; the tasks that
call these functions log what they return. Imported lazily, so that importing the
package does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AppReport": "karpa.applications.report",
    "IntentConfig": "karpa.applications.text_config",
    "run_intent": "karpa.applications.intent",
    "SentimentConfig": "karpa.applications.text_config",
    "run_sentiment": "karpa.applications.sentiment",
    "RecommendationConfig": "karpa.applications.rec_config",
    "run_recommendation": "karpa.applications.recommendation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'karpa.applications' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
