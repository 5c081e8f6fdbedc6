"""Which few-label recipe a learning-curve point uses.

With curve_mode "auto" there is no fixed recipe at k labels per class: each candidate of
curve_candidates (a linear probe on frozen vectors, supervised contrastive tuning then the
probe, full fine-tuning) is fitted for each encoder on the k-shot subset, scored on the
validation split with the application's own scorer and metric (intent: accuracy with the
out-of-scope threshold chosen on validation, as for the headline), and the best on
validation is the point's model. Test is never looked at. The ablation (scratch) goes
through the same choice, so the pretraining gain compares each encoder's best recipe.

The choice is made on the first subset seed of each k and reused for its other seeds (a
choice per seed would multiply the cost by the number of candidates again). On the full
train set the headline run of an encoder is its candidate for the headline mode (it is
that recipe fitted on that set), so only the other candidates are fitted there.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from karpa.applications.data import TextSplit, TextTask
from karpa.applications.encoders import Encoder
from karpa.applications.text_config import AUTO, TextAppConfig
from karpa.applications.text_runs import MetricFn, Scorer, TextRun, fit_models
from karpa_models.finetune.text import TextFeatures

logger = logging.getLogger(__name__)

ValMetric = Callable[[TextRun], float]


@dataclass(frozen=True)
class ModeChoice:
    """The recipe chosen for one encoder at one k, and every candidate's validation figure."""

    mode: str
    val: dict[str, float]
    seed: Any  # the subset seed it was chosen on

    def to_record(self) -> dict[str, Any]:
        return {"mode": self.mode, "mode_val": dict(self.val), "mode_chosen_on_seed": self.seed}


def on_validation(task: TextTask) -> TextTask:
    """The task with its validation split in the place of test: an application's scorer
    built on it thresholds and scores on validation alone."""
    return dataclasses.replace(task, test=task.val, n_test_total=len(task.val))


def validation_metric(val_scorer: Scorer, fn: MetricFn, y_val: np.ndarray) -> ValMetric:
    """A run's validation figure: val_scorer (an application scorer built on
    `on_validation(task)`) applied to the run's validation probabilities."""

    def score(run: TextRun) -> float:
        view = dataclasses.replace(run, probs_test=run.probs_val)
        return float(fn(y_val, val_scorer(view).pred))

    return score


def probs_score(val_metric: ValMetric) -> Callable[[np.ndarray], float]:
    """The validation figure of bare (n_val, C) validation probabilities: what a
    self-training probe keeps its round by, so that the round and the recipe are chosen by
    the same figure (intent's includes out-of-scope, which the probe's own does not)."""

    def score(probs_val: np.ndarray) -> float:
        return val_metric(TextRun("", "model", probs_val, probs_val))

    return score


def choose_mode(val: Mapping[str, float], order: Sequence[str]) -> str:
    """The candidate with the highest validation figure; ties (and NaN figures, which never
    win) go to the earliest in `order`."""
    best, best_value = order[0], -math.inf
    for mode in order:
        value = val[mode]
        if not math.isnan(value) and value > best_value:
            best, best_value = mode, value
    return best


def fit_point(
    task: TextTask,
    split: TextSplit,
    encoders: Sequence[Encoder],
    cfg: TextAppConfig,
    with_tfidf: bool,
    features: dict[str, TextFeatures],
    val_metric: ValMetric,
    prefix: str,
    seed: Any,
    chosen: Mapping[str, ModeChoice] | None = None,
    reuse: Mapping[tuple[str, str], TextRun] | None = None,
) -> tuple[list[TextRun], dict[str, ModeChoice]]:
    """Every encoder's best-on-validation run on `split` (and the TF-IDF baseline).

    chosen: choices already made at this k (another subset seed): only those modes are
    fitted. reuse: (encoder, mode) -> a run already fitted on `split` with that recipe.
    -> (runs, encoder -> choice)."""
    reuse = reuse or {}
    order = list(cfg.curve_candidates)
    candidates: dict[str, dict[str, TextRun]] = {e.name: {} for e in encoders}
    for mode in order:
        todo = [
            e
            for e in encoders
            if (chosen is None or chosen[e.name].mode == mode) and (e.name, mode) not in reuse
        ]
        for e in encoders:
            if (e.name, mode) in reuse and (chosen is None or chosen[e.name].mode == mode):
                candidates[e.name][mode] = reuse[(e.name, mode)]
        if todo:
            runs = fit_models(
                task,
                split,
                todo,
                cfg.classifier(curve=True, mode=mode),
                False,
                features,
                prefix=f"{prefix}{mode}/",
                val_score=probs_score(val_metric),
            )
            for run in runs:
                candidates[run.name][mode] = run
    out, choices = [], {}
    for enc in encoders:
        if chosen is not None:
            choice = chosen[enc.name]
        else:
            val = {mode: val_metric(run) for mode, run in candidates[enc.name].items()}
            choice = ModeChoice(choose_mode(val, order), val, seed)
            logger.info(
                "%s%s: %s chosen on validation (%s)",
                prefix,
                enc.name,
                choice.mode,
                ", ".join(f"{m} {v:.4f}" for m, v in val.items()),
            )
        choices[enc.name] = choice
        out.append(candidates[enc.name][choice.mode])
    if with_tfidf:
        out += fit_models(
            task, split, [], cfg.classifier(curve=True), True, features, prefix=prefix
        )
    return out, choices


def headline_reuse(
    full_runs: Sequence[TextRun], cfg: TextAppConfig
) -> dict[tuple[str, str], TextRun]:
    """The headline runs that are a curve candidate on the full train set: each encoder's
    run with the headline mode, unless it was trained with DP (the curve is not private)."""
    if cfg.privacy.enabled or cfg.mode not in cfg.curve_candidates:
        return {}
    return {
        (r.name, cfg.mode): r
        for r in full_runs
        if r.classifier is not None and r.train_info.get("mode") == cfg.mode
    }


def describe(records: Sequence[Mapping[str, Any]]) -> str:
    """One line for the report and the model card: the recipe chosen per model and k."""
    parts = []
    for model in dict.fromkeys(r["model"] for r in records if "mode_val" in r):
        rows = [r for r in records if r["model"] == model and "mode_val" in r]
        picks = ", ".join(f"k={r['k']} {r['mode']}" for r in rows)
        parts.append(f"{model}: {picks}")
    return "; ".join(parts)


def curve_protocol(cfg: TextAppConfig, records: Sequence[Mapping[str, Any]]) -> str:
    """The learning curve's line in the report's protocol (and so the model card)."""
    seeds = f"seeds {cfg.seeds or 'all'}"
    probes = ("linear_probe", "contrastive_probe", "probe_full")
    probing = cfg.curve_mode in probes or (
        cfg.curve_mode == AUTO and any(m in probes for m in cfg.curve_candidates)
    )
    selftrain = (
        f"; probes self-train on up to {cfg.self_training_pool} unlabeled training texts "
        f"({cfg.self_training_rounds} rounds, round r adding the most confident r x "
        f"{cfg.self_training_share:g} of the texts predicted for each class; the "
        "round kept chosen on validation)"
        if cfg.self_training_rounds and probing
        else ""
    )
    if cfg.curve_mode != AUTO:
        return f"{cfg.curve_mode} per k-shot subset; {seeds}{selftrain}"
    chosen = describe(records)
    return (
        f"auto: per encoder and k, the best on validation of {', '.join(cfg.curve_candidates)}"
        f" (first subset seed); {seeds}{selftrain}" + (f"; chosen: {chosen}" if chosen else "")
    )
