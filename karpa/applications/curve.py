"""The k-shot learning curve of the text applications: every model trained on each
k-shot subset (and on the full train set), its test metric averaged over subset seeds.
With curve_mode "auto" each encoder's recipe at each k is chosen on validation
(curve_modes.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from karpa.applications.curve_modes import (
    ModeChoice,
    ValMetric,
    fit_point,
    headline_reuse,
)
from karpa.applications.data import TextSplit, TextTask
from karpa.applications.encoders import PRETRAINED, SCRATCH, Encoder
from karpa.applications.text_config import AUTO, TextAppConfig
from karpa.applications.text_runs import TFIDF, MetricFn, Scorer, TextRun, fit_models
from karpa.evaluation.bootstrap import bootstrap_metric_ci, paired_bootstrap_metric
from karpa.evaluation.plots import CurveSeries
from karpa_models.finetune.text import TextFeatures
from karpa_models.progress import Progress

logger = logging.getLogger(__name__)


def learning_curve(
    task: TextTask,
    encoders: Sequence[Encoder],
    cfg: TextAppConfig,
    scorer: Scorer,
    metric: str,
    fn: MetricFn,
    features: dict[str, TextFeatures],
    full_runs: Sequence[TextRun] = (),
    val_metric: ValMetric | None = None,
) -> list[dict[str, Any]]:
    """One record per (model, k): the metric averaged over seeds, with a bootstrap band
    over test examples; the pretrained model's records also carry the pretraining gain
    (minus scratch at the same k, paired). The full train set is the last point
    (k = "all"); there the TF-IDF baseline of `full_runs` (the headline runs) is reused, as
    it would be refit identically.

    A probe that self-trained (cfg.self_training_rounds) records the round kept on each
    seed ("self_training_rounds"; 0 is the plain probe).

    With cfg.curve_mode "auto", val_metric (`curve_modes.validation_metric`: the
    application's own scorer on the validation split) scores each candidate recipe; each
    encoder's record then carries the chosen "mode" and every candidate's "mode_val"."""
    y = task.test.labels
    train_sets: dict[tuple[Any, int], TextSplit] = dict(task.shots)
    train_sets[("all", 0)] = task.train
    preds: dict[tuple[str, Any], list[np.ndarray]] = {}
    self_trained: dict[tuple[str, Any], list[int]] = {}  # the round kept, per seed
    sizes: dict[Any, float] = {}
    curve_cfg = cfg.classifier(curve=True)
    reusable = [r for r in full_runs if r.name == TFIDF]
    auto = cfg.curve_mode == AUTO
    if auto and val_metric is None:
        raise ValueError("curve_mode auto needs the application's validation metric")
    if not auto:
        val_metric = None  # given for other choices; the recipe stays cfg.curve_mode
    chosen: dict[Any, dict[str, ModeChoice]] = {}  # k -> encoder -> choice
    progress = Progress(
        f"{task.name} learning curve", len(train_sets), unit="train set", logger=logger
    )
    for (k, seed), split in train_sets.items():
        reuse = reusable if k == "all" else []
        if val_metric is not None:
            runs, choices = fit_point(
                task,
                split,
                encoders,
                cfg,
                cfg.run_baselines and not reuse,
                features,
                val_metric,
                prefix=f"curve/k{k}/s{seed}/",
                seed=seed,
                chosen=chosen.get(k),
                reuse=headline_reuse(full_runs, cfg) if k == "all" else None,
            )
            chosen.setdefault(k, choices)
        else:
            runs = fit_models(
                task,
                split,
                encoders,
                curve_cfg,
                cfg.run_baselines and not reuse,
                features,
                prefix=f"curve/k{k}/s{seed}/",
            )
        runs += reuse
        sizes[k] = round(len(split) / len(task.classes), 1) if k == "all" else float(k)
        for run in runs:
            preds.setdefault((run.name, k), []).append(scorer(run).pred)
            if "self_training" in run.train_info:
                kept = run.train_info["self_training"]["round"]
                self_trained.setdefault((run.name, k), []).append(kept)
        progress.update(detail=f"k={k} seed {seed} fitted")

    def seed_mean(y_: np.ndarray, m: np.ndarray) -> float:
        return float(np.mean([fn(y_, m[:, s]) for s in range(m.shape[1])]))

    records = []
    for (name, k), seeds_pred in preds.items():
        matrix = np.stack(seeds_pred, axis=1)  # (n_test, n_seeds)
        ci = bootstrap_metric_ci(
            seed_mean,
            y,
            matrix,
            n_resamples=cfg.curve_resamples,
            confidence=cfg.confidence,
            seed=cfg.seed,
        )
        records.append(
            {
                "model": name,
                "k": k,
                "labels_per_class": sizes[k],
                "metric": metric,
                "value": ci.estimate,
                "low": ci.low,
                "high": ci.high,
                "per_seed": [fn(y, matrix[:, s]) for s in range(matrix.shape[1])],
                "seeds": matrix.shape[1],
                "mode": curve_cfg.mode if name != TFIDF else "tfidf",
            }
        )
        if name in chosen.get(k, {}):
            records[-1].update(chosen[k][name].to_record())
        if (name, k) in self_trained:
            records[-1]["self_training_rounds"] = self_trained[(name, k)]
        if name == PRETRAINED and (SCRATCH, k) in preds:
            # Pretrained minus scratch at this k, both seed-averaged, resampled jointly.
            gain = paired_bootstrap_metric(
                seed_mean,
                (y, matrix),
                (y, np.stack(preds[(SCRATCH, k)], axis=1)),
                n_resamples=cfg.curve_resamples,
                confidence=cfg.confidence,
                seed=cfg.seed,
            )
            records[-1]["gain"] = {"estimate": gain.estimate, "low": gain.low, "high": gain.high}
    logger.info("%s learning curve: %d points", task.name, len(records))
    return records


def curve_series(records: Sequence[dict[str, Any]]) -> list[CurveSeries]:
    series = []
    for name in dict.fromkeys(r["model"] for r in records):
        rows = sorted(
            (r for r in records if r["model"] == name), key=lambda r: r["labels_per_class"]
        )
        series.append(
            CurveSeries(
                name=name,
                labels_per_class=[r["labels_per_class"] for r in rows],
                value=[r["value"] for r in rows],
                low=[r["low"] for r in rows],
                high=[r["high"] for r in rows],
            )
        )
    return series
