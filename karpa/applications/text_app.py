"""What the two text applications share: load the split and the encoders, fit every model
on the full train set, score and compare them on the same test texts, then draw the k-shot
learning curve; the protocol entries both report the same way."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from karpa.applications.curve import learning_curve
from karpa.applications.curve_modes import curve_protocol, validation_metric
from karpa.applications.data import TextTask, load_text_task
from karpa.applications.encoders import Encoder, load_encoders, provenance
from karpa.applications.multitask import choose_main, joint_run
from karpa.applications.text_compare import compare
from karpa.applications.text_config import TextAppConfig
from karpa.applications.text_privacy import non_private_twin, privacy_report
from karpa.applications.text_runs import (
    MetricFn,
    Scored,
    Scorer,
    TextRun,
    fit_models,
    frozen_features,
)
from karpa_models.finetune.loop import MetricsCallback
from karpa_models.runtime import Runtime, init_runtime


@dataclass
class TextInputs:
    """What a text application's run starts from."""

    runtime: Runtime
    task: TextTask
    encoders: list[Encoder]
    joint: list[TextRun]  # the joint multi-task model as a candidate run, when there is one


def load_text_inputs(
    views_dir: Path,
    foundation_ckpt: Path | None,
    cfg: TextAppConfig,
    table: str,
    joint_dir: Path | None,
    out_of_scope: Sequence[str] = (),
) -> TextInputs:
    """The runtime cfg.device gives, `table`'s split (out_of_scope: labels never trained
    on), the pretrained and scratch encoders, and the joint model's run from joint_dir."""
    runtime = init_runtime(cfg.device)
    task = load_text_task(
        views_dir, table, out_of_scope, cfg.max_test_examples, cfg.k_shots, cfg.seeds, cfg.seed
    )
    encoders = load_encoders(
        views_dir, foundation_ckpt, str(runtime.device), 0, cfg.preset, cfg.run_scratch, cfg.seed
    )
    joint = [joint_run(task, joint_dir, cfg.device)] if joint_dir is not None else []
    return TextInputs(runtime, task, encoders, joint)


@dataclass
class TextEvaluation:
    """Every model on the full train set, scored, compared and (optionally) curved."""

    runs: list[TextRun]
    scored: dict[str, Scored]
    main: str
    headline: dict[str, Any]
    comparisons: dict[str, dict[str, Any]]
    gain: dict[str, Any] | None
    curve: list[dict[str, Any]] = field(default_factory=list)
    privacy: dict[str, Any] | None = None  # text_privacy.privacy_report, for DP runs
    choice: dict[str, Any] | None = None  # multitask.choose_main: separate vs joint, on val

    @property
    def main_run(self) -> TextRun:
        return next(r for r in self.runs if r.name == self.main)


def evaluate_text(
    task: TextTask,
    encoders: Sequence[Encoder],
    cfg: TextAppConfig,
    scorer: Scorer,
    metric: str,
    fn: MetricFn,
    runtime: Runtime,
    protocol: str,
    on_metrics: MetricsCallback | None = None,
    *,
    val_scorer: Scorer,
    extra_runs: Sequence[TextRun] = (),
) -> tuple[TextEvaluation, dict[str, float]]:
    """Fit every model on the full train set, score and compare them, then run the
    learning curve (unless cfg.k_shots is empty). val_scorer: the application's scorer
    built on `curve_modes.on_validation(task)`; every choice made on validation (the
    curve's recipe under curve_mode auto, the main model) scores with it. extra_runs: runs
    fitted elsewhere on the same split (the joint multi-task model); with one, the main
    model is chosen on validation (multitask.choose_main). -> (evaluation, timings in seconds)."""
    started = time.perf_counter()
    features = frozen_features(encoders, cfg.max_len, runtime)
    runs = fit_models(
        task,
        task.train,
        encoders,
        cfg.classifier(),
        cfg.run_baselines,
        features,
        on_metrics,
        prefix=f"{task.name}/",
    )
    twin = non_private_twin(task, encoders, runs, cfg, on_metrics, prefix=f"{task.name}/")
    runs += [twin] if twin is not None else []
    runs += list(extra_runs)
    scored = {r.name: scorer(r) for r in runs}
    val_metric = validation_metric(val_scorer, fn, task.val.labels)
    choice = choose_main(runs, val_metric, len(task.val), metric)
    main, headline, comparisons, gain = compare(
        runs,
        scored,
        task.test.labels,
        metric,
        fn,
        cfg,
        protocol,
        main=choice["chosen"] if choice else None,
    )
    main_run = next(r for r in runs if r.name == main)
    privacy = privacy_report(main_run, scored, comparisons, task.test.labels, metric, cfg)
    timings = {"fit_and_score_s": time.perf_counter() - started}
    curve: list[dict[str, Any]] = []
    if cfg.k_shots is None or len(cfg.k_shots) > 0:
        started = time.perf_counter()
        curve = learning_curve(task, encoders, cfg, scorer, metric, fn, features, runs, val_metric)
        timings["learning_curve_s"] = time.perf_counter() - started
    evaluation = TextEvaluation(
        runs, scored, main, headline, comparisons, gain, curve, privacy, choice
    )
    return evaluation, timings


def text_protocol(
    cfg: TextAppConfig, ev: TextEvaluation, task: TextTask, foundation_ckpt: Path | None
) -> dict[str, Any]:
    """The protocol entries both text applications report alike: the fine-tuning mode and
    classifier settings, the learning curve, the test split's size and the foundation."""
    return {
        "mode": cfg.mode,
        "learning_curve": curve_protocol(cfg, ev.curve),
        "test_examples": len(task.test),
        "test_examples_available": task.n_test_total,
        "classifier": cfg.classifier().to_dict(),
        **provenance(foundation_ckpt),
    }
