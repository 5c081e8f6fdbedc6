"""Finance news sentiment: a class-weighted classifier over the labeled headlines.

Classes are imbalanced (neutral dominates), so the loss weights classes by inverse
frequency and the headline is macro-F1, which weighs every class equally.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from karpa.applications.curve_modes import on_validation
from karpa.applications.data import TextTask
from karpa.applications.report import AppReport, interval_dict
from karpa.applications.robustness import text_robustness_slices
from karpa.applications.text_app import evaluate_text, load_text_inputs, text_protocol
from karpa.applications.text_compare import fast_macro_f1
from karpa.applications.text_config import SentimentConfig
from karpa.applications.text_explain import explain_text_app
from karpa.applications.text_report import finish_text_app, text_slices
from karpa.applications.text_runs import Scored, TextRun
from karpa.evaluation.bootstrap import bootstrap_ci
from karpa.evaluation.classification import classification_metrics
from karpa.evaluation.slices import by_class
from karpa_models.finetune.loop import MetricsCallback


def sentiment_scorer(task: TextTask) -> Callable[[TextRun], Scored]:
    """The top class is the prediction; metrics over the task's classes."""
    y = task.test.labels
    classes = np.asarray(task.classes, dtype=object)

    def score(run: TextRun) -> Scored:
        pred = classes[run.probs_test.argmax(axis=1)]
        return Scored(pred=pred, metrics=classification_metrics(y, pred, labels=task.classes))

    return score


def run_sentiment(
    views_dir: Path,
    foundation_ckpt: Path | None,
    cfg: SentimentConfig,
    out_dir: Path,
    on_metrics: MetricsCallback | None = None,
    joint_dir: Path | None = None,
) -> AppReport:
    """Fine-tune and evaluate news sentiment (pretrained, scratch, TF-IDF) on one split;
    writes plots, the model card, the saved model and report.json into out_dir.
    joint_dir: a joint multi-task fine-tune (multitask.train_joint), one more candidate
    for the main model, chosen on validation."""
    started = time.perf_counter()
    views_dir, out_dir = Path(views_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = load_text_inputs(views_dir, foundation_ckpt, cfg, "sentiment", joint_dir)
    task = inputs.task
    metric = fast_macro_f1(task.classes)
    protocol_line = f"macro-F1 over {len(task.classes)} classes on the labeled test split"
    ev, timings = evaluate_text(
        task,
        inputs.encoders,
        cfg,
        sentiment_scorer(task),
        "macro_f1",
        metric,
        inputs.runtime,
        protocol_line,
        on_metrics,
        val_scorer=sentiment_scorer(on_validation(task)),
        extra_runs=inputs.joint,
    )
    y = task.test.labels
    main = ev.scored[ev.main]
    slices = text_slices([by_class(y)], y, ev.runs, ev.scored, ev.main, cfg)
    accuracy_ci = bootstrap_ci(
        (main.pred == y).astype(float), cfg.n_resamples, cfg.confidence, cfg.seed
    )
    intervals = {"accuracy": interval_dict(accuracy_ci, "accuracy", "labeled test split")}
    mark = time.perf_counter()
    robust, robust_protocol = [], {}
    if ev.main_run.classifier is not None:
        clf, classes = ev.main_run.classifier, np.asarray(task.classes, dtype=object)
        robust, robust_protocol = text_robustness_slices(
            task.test.texts,
            y,
            lambda texts: classes[clf.predict_proba(texts).argmax(axis=1)],
            metric,
            views_dir,
            cfg,
        )
        timings["robustness_s"] = time.perf_counter() - mark
    slices += robust
    counts = {c: int(np.sum(task.train.labels == c)) for c in task.classes}
    protocol = {
        "split": "align stage hash split; train on labeled train headlines",
        "headline": protocol_line,
        "class_weighting": "inverse class frequency" if cfg.class_weighting else "none",
        "slices": "per true class: the accuracy there is the class recall",
        "bootstrap": f"{cfg.n_resamples} percentile resamples of test headlines, "
        f"{cfg.confidence:.0%}; deltas paired",
        **text_protocol(cfg, ev, task, foundation_ckpt),
        **robust_protocol,
    }
    data = {
        "classes": len(task.classes),
        "train": len(task.train),
        **{f"train_{c}": n for c, n in counts.items()},
        "val": len(task.val),
        "test": len(task.test),
        "k_shot_subsets": len(task.shots),
    }
    summary = (
        f"Classifies finance headlines as {', '.join(task.classes)}. Fine-tuned "
        f"({cfg.mode}) from the {ev.main} text tower"
        + (" with inverse-frequency class weights." if cfg.class_weighting else ".")
    )
    limits = [
        "Headlines only carry the sentiment their wording shows; news about an entity the "
        "model never saw is scored on wording alone.",
        "Learning-curve points train a linear probe on frozen features when curve_mode is "
        "linear_probe; the headline model is fine-tuned with `mode`.",
    ]
    if task.n_test_total > len(task.test):
        limits.append(f"Test capped at {len(task.test)} of {task.n_test_total} headlines.")
    explanations = explain_text_app("sentiment", task, ev, cfg, out_dir)
    timings["total_s"] = time.perf_counter() - started
    return finish_text_app(
        "sentiment",
        out_dir,
        cfg,
        ev,
        slices,
        task.classes,
        y,
        {},
        intervals=intervals,
        summary=summary,
        protocol=protocol,
        data=data,
        limits=limits,
        timings=timings,
        explanations=explanations,
    )
