"""The shared text fine-tune: a task's train split, early stopping on its validation split
(out-of-scope examples there left out), probabilities in the task's class order."""

from __future__ import annotations

import dataclasses

import numpy as np

from karpa.applications.data import TextSplit, TextTask
from karpa.applications.text_finetune import finetune_on_task
from karpa_models.config import load_preset
from karpa_models.finetune.classifier import train_classifier
from karpa_models.finetune.config import ClassifierConfig
from karpa_models.finetune.scratch import scratch_foundation

WORDS = {"refund": "reimburse", "delivery": "courier", "login": "password"}


def _split(n: int, labels: list[str], prefix: str) -> TextSplit:
    chosen = [labels[i % len(labels)] for i in range(n)]
    texts = [f"hello {WORDS.get(y, 'weather')} please {i}" for i, y in enumerate(chosen)]
    return TextSplit([f"{prefix}{i}" for i in range(n)], texts, np.array(chosen))


def test_fine_tunes_on_the_task_splits_in_its_class_order():
    cfg, _ = load_preset("tiny")
    small = dict(width=32, layers=1, heads=2)
    cfg = dataclasses.replace(
        cfg, embed_dim=32, text=dataclasses.replace(cfg.text, max_len=16, **small)
    )
    classes = ["refund", "login", "delivery"]  # not sorted: the task's order wins
    task = TextTask(
        name="intent",
        classes=classes,
        train=_split(30, classes, "tr"),
        val=_split(12, [*classes, "oos"], "va"),
        test=_split(6, classes, "te"),
    )
    model, tok = scratch_foundation(cfg, task.train.texts * 3, seed=0)
    recipe = ClassifierConfig(epochs=2, batch_size=8, device="cpu", evals_per_epoch=2)
    seen: list[str] = []
    clf = finetune_on_task(
        task, model, tok, recipe, name="trial", on_metrics=lambda m, step: seen.extend(m)
    )
    assert clf.classes == classes
    assert "trial/val_macro_f1" in seen and clf.train_info["best_val_macro_f1"] >= 0
    # The same as the call it stands for, spelled out by hand.
    direct = train_classifier(
        model,
        tok,
        task.train.texts,
        task.train.labels.tolist(),
        task.val.texts,
        task.val.labels.tolist(),
        recipe,
        classes=classes,
        name="trial",
    )
    np.testing.assert_allclose(
        clf.predict_proba(task.test.texts), direct.predict_proba(task.test.texts), atol=1e-6
    )
