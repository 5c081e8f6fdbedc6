"""Multi-task fine-tuning of the text applications, measured against the separate ones.

`train_joint` fine-tunes one copy of the foundation's text tower on intent and sentiment
at once (karpa_models/finetune/multitask.py: task-sampled batches, a head each) and saves
each application's view of it as an ordinary classifier folder. Each application then
loads its view as one more candidate run (`joint_run`, named "multitask"), scored on the
same validation and test texts as the separate fine-tune, and `choose_main` picks the
application's main model between them on validation alone: the test split only reports.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from karpa.applications.curve_modes import ValMetric
from karpa.applications.data import TextTask, load_text_task
from karpa.applications.encoders import PRETRAINED
from karpa.applications.text_config import IntentConfig, TextAppConfig
from karpa.applications.text_runs import TextRun
from karpa_models.finetune.loop import MetricsCallback, steps_plan
from karpa_models.finetune.multitask import JointTask, train_multitask
from karpa_models.finetune.privacy_config import PrivacyConfig
from karpa_models.finetune.saved import load_classifier, save_classifier
from karpa_models.pretraining import load_foundation

logger = logging.getLogger(__name__)

MULTITASK = "multitask"  # the joint candidate's run name in every report
SUMMARY = "multitask.json"


def load_task(views_dir: Path, app: str, cfg: TextAppConfig) -> TextTask:
    """The application's task exactly as the application loads it (no k-shot subsets)."""
    oos = [cfg.oos_label] if isinstance(cfg, IntentConfig) else []
    return load_text_task(views_dir, app, oos, cfg.max_test_examples, (), cfg.seeds, cfg.seed)


def train_joint(
    views_dir: Path,
    foundation_ckpt: Path,
    settings: Mapping[str, TextAppConfig],
    sampling: str,
    lr: float | None,
    out_dir: Path,
    device: str = "auto",
    on_metrics: MetricsCallback | None = None,
) -> dict[str, Any]:
    """Fine-tune the foundation jointly on every application in `settings` (two or more)
    and save app -> out_dir/<app>/ (a classifier folder each) and out_dir/multitask.json.

    The shared recipe is the first application's full fine-tune (lr replaced by `lr` when
    given); each task keeps its own class weighting; the step budget is the sum of the
    separate fine-tunes' budgets, so the joint model costs what the separate ones cost
    together. -> the summary written to multitask.json.
    """
    apps = list(settings)
    first = settings[apps[0]]
    recipe = dataclasses.replace(
        first.classifier(), mode="full", privacy=PrivacyConfig(), lr=lr or first.lr, device=device
    )
    tasks = []
    for app in apps:
        task, c = load_task(views_dir, app, settings[app]), settings[app].classifier()
        budget = steps_plan(len(task.train), c.batch_size, c.epochs, c.min_steps, c.max_steps)
        tasks.append(
            JointTask(
                app,
                tuple(task.classes),
                task.train.texts,
                task.train.labels.tolist(),
                task.val.texts,
                task.val.labels.tolist(),
                settings[app].class_weighting,
                planned_steps=budget,
            )
        )
    model, tokenizer, _ = load_foundation(foundation_ckpt, device=str(recipe_device(device)))
    classifiers = train_multitask(
        model, tokenizer, tasks, recipe, sampling, on_metrics=on_metrics, name=MULTITASK
    )
    out_dir = Path(out_dir)
    for app, clf in classifiers.items():
        save_classifier(clf, out_dir / app)
    summary = {
        "applications": apps,
        "sampling": sampling,
        "recipe": {k: v for k, v in recipe.to_dict().items() if k != "privacy"},
        "training": {
            app: {k: v for k, v in clf.train_info.items() if k != "history"}
            for app, clf in classifiers.items()
        },
    }
    (out_dir / SUMMARY).write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary


def recipe_device(device: str) -> str:
    """ "auto" resolved the way fine-tuning resolves it (CUDA when present)."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def joint_run(task: TextTask, joint_dir: Path, device: str) -> TextRun:
    """The application's view of the joint model as a candidate run, scored on the same
    validation and test texts as the application's other runs."""
    clf = load_classifier(Path(joint_dir) / task.name, device=recipe_device(device))
    if clf.classes != list(task.classes):
        raise ValueError(
            f"{task.name}: the joint model's classes {clf.classes} are not the task's "
            f"{task.classes} (was it trained on other views?)"
        )
    return TextRun(
        name=MULTITASK,
        kind="model",
        probs_val=clf.predict_proba(task.val.texts),
        probs_test=clf.predict_proba(task.test.texts),
        classifier=clf,
        train_info=clf.train_info,
    )


def choose_main(
    runs: Sequence[TextRun], val_metric: ValMetric, n_val: int, metric: str
) -> dict[str, Any] | None:
    """Between the separate fine-tune and the joint one, the main model is the one with
    the higher headline metric on the validation split (val_metric: the application's own
    scorer on validation, `curve_modes.validation_metric`, so an out-of-scope threshold is
    chosen and applied there; the test split is never read); a tie keeps the separate one.
    None when there is no joint candidate."""
    names = [r.name for r in runs]
    if MULTITASK not in names or PRETRAINED not in names:
        return None
    values = {r.name: val_metric(r) for r in runs if r.name in (PRETRAINED, MULTITASK)}
    chosen = PRETRAINED if values[PRETRAINED] >= values[MULTITASK] else MULTITASK
    other = MULTITASK if chosen == PRETRAINED else PRETRAINED
    sentence = (
        f"main model: {chosen} ({'joint' if chosen == MULTITASK else 'separate'} fine-tune), "
        f"validation {metric} {values[chosen]:.4f} against {values[other]:.4f} for {other} "
        f"({n_val} validation examples; a tie keeps the separate fine-tune)"
    )
    return {
        "metric": metric,
        "split": "validation",
        "values": values,
        "chosen": chosen,
        "sentence": sentence,
    }
