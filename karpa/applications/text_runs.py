"""Fitting every text model on one train set and scoring it on validation and test.

Models on a train set: one classifier per encoder (pretrained, scratch) and the TF-IDF +
logistic regression baseline, all scored on the same validation and test texts. An
application turns probabilities into predictions with its `Scorer` (intent applies an
out-of-scope threshold chosen on validation; sentiment takes the top class).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from karpa.applications.data import TextSplit, TextTask
from karpa.applications.encoders import PRETRAINED, SCRATCH, Encoder
from karpa.evaluation.baselines import TfidfLogisticRegression
from karpa_models.finetune.classifier import train_classifier
from karpa_models.finetune.config import ClassifierConfig
from karpa_models.finetune.loop import MetricsCallback
from karpa_models.finetune.predictors import FineTunedClassifier
from karpa_models.finetune.text import TextFeatures
from karpa_models.runtime import Runtime

logger = logging.getLogger(__name__)

TFIDF = "tfidf_lr"
MetricFn = Callable[[np.ndarray, np.ndarray], float]


@dataclass
class TextRun:
    """One model fitted on one train set: (n_val, C) and (n_test, C) probabilities."""

    name: str
    kind: str  # "model" | "ablation" | "baseline"
    probs_val: np.ndarray
    probs_test: np.ndarray
    classifier: FineTunedClassifier | None = None
    train_info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scored:
    """A run's test predictions (n_test,) and metrics; extra holds e.g. the threshold."""

    pred: np.ndarray
    metrics: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)


Scorer = Callable[[TextRun], Scored]


def kind_of(name: str, names: Sequence[str]) -> str:
    if name == TFIDF:
        return "baseline"
    if name == SCRATCH and PRETRAINED in names:
        return "ablation"
    return "model"


def frozen_features(encoders: Sequence[Encoder], max_len: int | None, runtime: Runtime):
    """One memo of frozen pooled features per encoder (for linear probes, and the probe that
    starts probe_full)."""
    out = {}
    for enc in encoders:
        limit = min(max_len or enc.model.text.max_len, enc.model.text.max_len)
        out[enc.name] = TextFeatures(enc.model.text, enc.tokenizer, limit, runtime)
    return out


def fit_models(
    task: TextTask,
    train: TextSplit,
    encoders: Sequence[Encoder],
    cfg: ClassifierConfig,
    with_tfidf: bool,
    features: dict[str, TextFeatures] | None = None,
    on_metrics: MetricsCallback | None = None,
    prefix: str = "",
    val_score: Callable[[np.ndarray], float] | None = None,
) -> list[TextRun]:
    """Every model trained on `train`, scored on task.val and task.test. val_score: the
    application's figure of (n_val, C) validation probabilities, by which a self-training
    probe keeps its round (train_classifier)."""
    names = [e.name for e in encoders] + ([TFIDF] if with_tfidf else [])
    runs = []
    for enc in encoders:
        clf = train_classifier(
            enc.model,
            enc.tokenizer,
            train.texts,
            train.labels.tolist(),
            task.val.texts,
            task.val.labels.tolist(),
            cfg,
            classes=task.classes,
            features=(
                (features or {}).get(enc.name)
                if cfg.mode in ("linear_probe", "probe_full")
                else None
            ),
            on_metrics=on_metrics,
            name=f"{prefix}{enc.name}",
            unlabeled_texts=task.unlabeled,
            val_score=val_score,
        )
        runs.append(
            TextRun(
                name=enc.name,
                kind=kind_of(enc.name, names),
                probs_val=clf.predict_proba(task.val.texts),
                probs_test=clf.predict_proba(task.test.texts),
                classifier=clf,
                train_info=clf.train_info,
            )
        )
    if with_tfidf:
        tfidf = TfidfLogisticRegression().fit(train.texts, train.labels.tolist())
        columns = [
            list(tfidf.classes_).index(c) if c in tfidf.classes_ else -1 for c in task.classes
        ]
        runs.append(
            TextRun(
                name=TFIDF,
                kind="baseline",
                probs_val=_columns(tfidf.predict_proba(task.val.texts), columns),
                probs_test=_columns(tfidf.predict_proba(task.test.texts), columns),
            )
        )
    return runs


def _columns(probs: np.ndarray, columns: list[int]) -> np.ndarray:
    """Reorder a baseline's (n, C') probabilities to the task's classes (0 where absent)."""
    out = np.zeros((len(probs), len(columns)))
    for j, c in enumerate(columns):
        if c >= 0:
            out[:, j] = probs[:, c]
    return out
