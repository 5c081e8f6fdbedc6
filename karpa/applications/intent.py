"""Customer-service intent routing with out-of-scope detection.

Classifiers learn the in-scope intents only; a message becomes out-of-scope when its top
probability falls below a threshold chosen on the validation split (in-scope and
out-of-scope examples). Headline: accuracy on the labeled test split, out-of-scope
messages included.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from karpa.applications.cross_domain import cross_domain_slices
from karpa.applications.curve_modes import on_validation
from karpa.applications.data import TextTask
from karpa.applications.report import AppReport, interval_dict
from karpa.applications.robustness import text_robustness_slices
from karpa.applications.text_app import evaluate_text, load_text_inputs, text_protocol
from karpa.applications.text_compare import fast_macro_f1
from karpa.applications.text_config import IntentConfig
from karpa.applications.text_explain import explain_text_app
from karpa.applications.text_report import finish_text_app, text_slices
from karpa.applications.text_runs import Scored, TextRun
from karpa.evaluation.bootstrap import bootstrap_metric_ci
from karpa.evaluation.classification import (
    accuracy,
    choose_oos_threshold,
    classification_metrics,
    expected_calibration_error,
    predict_with_oos,
)
from karpa.evaluation.plots import reliability_diagram
from karpa.evaluation.slices import by_message_length
from karpa_models.finetune.loop import MetricsCallback

logger = logging.getLogger(__name__)


def intent_scorer(task: TextTask, cfg: IntentConfig) -> Callable[[TextRun], Scored]:
    """Threshold on validation, then test metrics with out-of-scope as a label."""
    y = task.test.labels
    labels = [*task.classes, cfg.oos_label]
    position = {c: i for i, c in enumerate(task.classes)}
    in_scope = np.array([label in position for label in y])
    # A validation label the classifier cannot predict (an intent missing from train) has
    # no place in the threshold search; it still counts as an error on test.
    usable = np.isin(task.val.labels, labels)
    has_oos = bool(np.any(task.val.labels == cfg.oos_label))

    def score(run: TextRun) -> Scored:
        if has_oos:
            chosen = choose_oos_threshold(
                run.probs_val[usable],
                task.val.labels[usable],
                task.classes,
                cfg.oos_label,
                cfg.threshold_criterion,
            )
            threshold = chosen.threshold
        else:
            threshold = 0.0  # nothing to tune on: never reject
        pred = predict_with_oos(run.probs_test, task.classes, threshold, cfg.oos_label)
        pred = np.asarray(pred, dtype=object)
        metrics = classification_metrics(y, pred, labels=labels, oos_label=cfg.oos_label)
        if in_scope.any():
            truth = np.array([position[label] for label in y[in_scope]])
            metrics["ece"] = expected_calibration_error(run.probs_test[in_scope], truth)
        metrics["oos_threshold"] = threshold
        return Scored(pred=pred, metrics=metrics, extra={"threshold": threshold})

    if not has_oos:
        logger.warning("intent: no out-of-scope example in validation; threshold fixed at 0")
    return score


def run_intent(
    views_dir: Path,
    foundation_ckpt: Path | None,
    cfg: IntentConfig,
    out_dir: Path,
    on_metrics: MetricsCallback | None = None,
    joint_dir: Path | None = None,
) -> AppReport:
    """Fine-tune and evaluate intent routing (pretrained, scratch, TF-IDF) on one split;
    writes plots, the model card, the saved model and report.json into out_dir.
    joint_dir: a joint multi-task fine-tune (multitask.train_joint), one more candidate
    for the main model, chosen on validation."""
    started = time.perf_counter()
    views_dir, out_dir = Path(views_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = load_text_inputs(views_dir, foundation_ckpt, cfg, "intent", joint_dir, [cfg.oos_label])
    task, encoders = inputs.task, inputs.encoders
    protocol_line = "accuracy on the labeled test split, out-of-scope included"
    ev, timings = evaluate_text(
        task,
        encoders,
        cfg,
        intent_scorer(task, cfg),
        "accuracy",
        accuracy,
        inputs.runtime,
        protocol_line,
        on_metrics,
        val_scorer=intent_scorer(on_validation(task), cfg),
        extra_runs=inputs.joint,
    )
    y = task.test.labels
    main = ev.scored[ev.main]
    slices = text_slices(
        [by_message_length(task.test.texts, cfg.length_edges)],
        y,
        ev.runs,
        ev.scored,
        ev.main,
        cfg,
    )
    figures = {}
    in_scope = np.isin(y, task.classes)
    if in_scope.any():
        truth = np.array([task.classes.index(label) for label in y[in_scope]])
        figures["reliability"] = reliability_diagram(
            ev.main_run.probs_test[in_scope],
            truth,
            out_dir / "reliability.png",
            title=f"intent: {ev.main}",
        )
    threshold = float(main.extra["threshold"])
    labels = [*task.classes, cfg.oos_label]
    macro = bootstrap_metric_ci(
        fast_macro_f1(labels),
        y,
        main.pred,
        n_resamples=cfg.n_resamples,
        confidence=cfg.confidence,
        seed=cfg.seed,
    )
    intervals = {"macro_f1": interval_dict(macro, "macro_f1", "in-scope intents + oos")}
    mark = time.perf_counter()
    robust, robust_protocol = [], {}
    if ev.main_run.classifier is not None:
        clf = ev.main_run.classifier
        robust, robust_protocol = text_robustness_slices(
            task.test.texts,
            y,
            lambda texts: predict_with_oos(
                clf.predict_proba(texts), task.classes, threshold, cfg.oos_label
            ),
            fast_macro_f1(labels),
            views_dir,
            cfg,
        )
        timings["robustness_s"] = time.perf_counter() - mark
    slices += robust
    cross, cross_protocol = [], {}
    encoder = next((e for e in encoders if e.name == ev.main), None)
    if cfg.holdout_domain and encoder is not None:
        mark = time.perf_counter()
        cross, cross_protocol = cross_domain_slices(task, encoder, cfg, main)
        timings["cross_domain_s"] = time.perf_counter() - mark
    slices += cross
    protocol = {
        "split": "align stage hash split; train on in-scope labeled train messages",
        "headline": protocol_line,
        "oos_label": cfg.oos_label,
        "oos_threshold": f"chosen on validation by {cfg.threshold_criterion} "
        "(choose_oos_threshold), per model",
        "ece": "top-class confidence of in-scope test messages, 15 bins",
        "bootstrap": f"{cfg.n_resamples} percentile resamples of test messages, "
        f"{cfg.confidence:.0%}; deltas paired",
        **text_protocol(cfg, ev, task, foundation_ckpt),
        **robust_protocol,
        **cross_protocol,
    }
    data = {
        "classes": len(task.classes),
        "train": len(task.train),
        "val": len(task.val),
        "val_oos": int(np.sum(task.val.labels == cfg.oos_label)),
        "test": len(task.test),
        "test_oos": int(np.sum(y == cfg.oos_label)),
        "k_shot_subsets": len(task.shots),
    }
    summary = (
        f"Routes customer messages to {len(task.classes)} intents or out-of-scope. "
        f"Fine-tuned ({cfg.mode}) from the {ev.main} text tower; a message is out-of-scope "
        f"when its top probability is below {threshold:.3f}."
    )
    limits = [
        "The out-of-scope threshold is tuned on the validation split only; a shift in the "
        "share of out-of-scope traffic moves the best threshold.",
        "Learning-curve points train a linear probe on frozen features when curve_mode is "
        "linear_probe; the headline model is fine-tuned with `mode`.",
    ]
    if task.n_test_total > len(task.test):
        limits.append(f"Test capped at {len(task.test)} of {task.n_test_total} messages.")
    explanations = explain_text_app("intent", task, ev, cfg, out_dir)
    timings["total_s"] = time.perf_counter() - started
    return finish_text_app(
        "intent",
        out_dir,
        cfg,
        ev,
        slices,
        labels,
        y,
        figures,
        intervals=intervals,
        summary=summary,
        protocol=protocol,
        data=data,
        limits=limits,
        timings=timings,
        oos_threshold=threshold,
        explanations=explanations,
    )
