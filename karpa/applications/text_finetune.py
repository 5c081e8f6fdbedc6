"""One text classifier fine-tuned on a task's splits: the call that the application's
non-private twin and an architecture-search trial share, so that a trial fine-tunes
exactly as the application does (train split, early stopping on the validation split,
probability columns in the task's class order)."""

from __future__ import annotations

from typing import Any

from karpa.applications.data import TextTask
from karpa_models.finetune.classifier import train_classifier
from karpa_models.finetune.config import ClassifierConfig
from karpa_models.finetune.loop import MetricsCallback
from karpa_models.finetune.predictors import FineTunedClassifier
from karpa_models.finetune.text import TextFeatures


def finetune_on_task(
    task: TextTask,
    foundation: Any,
    tokenizer: Any,
    recipe: ClassifierConfig,
    *,
    name: str,
    on_metrics: MetricsCallback | None = None,
    features: TextFeatures | None = None,
) -> FineTunedClassifier:
    """Fine-tune `recipe` from `foundation` on the task's train split, early-stopped on
    its validation split, the probability columns in the order of `task.classes`. `name`
    prefixes the metrics `on_metrics` receives; `features`: the foundation's frozen text
    vectors, memoised across calls (the probes')."""
    return train_classifier(
        foundation,
        tokenizer,
        task.train.texts,
        task.train.labels.tolist(),
        task.val.texts,
        task.val.labels.tolist(),
        recipe,
        classes=task.classes,
        features=features,
        on_metrics=on_metrics,
        name=name,
        unlabeled_texts=task.unlabeled,
    )
