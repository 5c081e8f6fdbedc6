"""One trial of the search: pretrain at a reduced budget, fine-tune the searched
applications, score them on validation, time one request each, count parameters.

The test split is never read. The data a trial needs (the pretraining corpus, the
tokenizer, the labeled splits) is loaded once per search (`load_search_data`): the
vocabulary is not searched, so every trial shares one tokenizer, trained once.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from karpa.config import RunConfig
from karpa.finetuning import app_config
from karpa.pretraining.checks_data import checks_data, split_held
from karpa.pretraining.corpus import build_corpus
from karpa.search import objectives as obj
from karpa.search.space import configs_for

log = logging.getLogger(__name__)

# Intermediate values: the pretraining checks at their own steps, then application i's
# fine-tune curve at (i + 1) * STEP_STRIDE + its step, so that the pruner compares like
# with like across trials.
STEP_STRIDE = 10_000_000  # above the largest pretraining (search.pretrain_steps <= 1e6)
LATENCY_INPUTS = 50
OnValue = Callable[[float, int], None]


@dataclass
class SearchData:
    """What every trial reads: the corpus, the shared tokenizer, the labeled splits."""

    views: Path
    corpus: Any  # karpa_models.corpus.PretrainCorpus
    tokenizer: Any  # tokenizers.Tokenizer
    text_tasks: dict[str, Any] = field(default_factory=dict)  # app -> TextTask
    rec: Any = None  # karpa.applications.data.RecData
    checks: Any = None  # karpa_models.checks.ChecksData: the pretrain stage's validation checks


@dataclass
class TrialOutcome:
    """A finished trial's objective inputs and what it cost."""

    quality: dict[str, float]  # application -> validation metric
    latency: dict[str, dict[str, float]]  # application -> latency_p50 / latency_p95 (ms)
    params: int  # the foundation's parameters
    seconds: float
    metrics: dict[str, str]  # application -> the validation metric's name


def load_search_data(views_dir: Path, cfg: RunConfig) -> SearchData:
    """The corpus (as the pretrain stage builds it), one tokenizer trained on it, and the
    searched applications' labeled data."""
    from karpa.applications.data import TextSplit, load_recommendation, load_text_task
    from karpa_models.hf_text import pretrained_tokenizer
    from karpa_models.pretraining import corpus_texts
    from karpa_models.tokenizer import train_tokenizer

    views_dir = Path(views_dir)
    model_cfg, _ = cfg.pretrain.model_configs(cfg.seed)
    corpus, held = build_corpus(views_dir, cfg.align.image_size, cfg.pretrain.max_texts, cfg.seed)
    tokenizer = (
        pretrained_tokenizer(model_cfg.text_init)
        if model_cfg.text_init
        else train_tokenizer(corpus_texts(corpus), model_cfg.text.vocab_size)
    )
    data = SearchData(views_dir, corpus, tokenizer)
    if cfg.pretrain.checks.every:
        # The retrain's own checks on validation data: a trial keeps its best checkpoint as
        # a retrain would, and the pruner sees its probe while it pretrains.
        check_pairs, _ = split_held(held)
        data.checks = checks_data(views_dir, check_pairs, cfg.pretrain.checks.max_val, cfg.seed)
    for app in cfg.search.applications:
        settings = app_config(app, cfg.finetune, cfg.pretrain.preset)
        if app == "recommendation":
            rec = load_recommendation(views_dir, settings.max_test_users, settings.seed)
            data.rec = dataclasses.replace(
                rec, test_users=[], test_histories=[], test_targets=np.empty(0, dtype=np.int64)
            )
        else:
            oos = [settings.oos_label] if app == "intent" else []
            task = load_text_task(views_dir, app, oos, 1, (), (), settings.seed)
            # The search scores on validation only: the test split is dropped here.
            empty = TextSplit([], [], np.empty(0, dtype=object))
            data.text_tasks[app] = dataclasses.replace(task, test=empty, n_test_total=0)
    return data


def trial_configs(params: dict[str, Any], cfg: RunConfig, steps: int) -> tuple[Any, Any]:
    """The run's model preset with the trial's parameters, pretrained for `steps`."""
    model_cfg, train_cfg = configs_for(params, *cfg.pretrain.model_configs(cfg.seed))
    train_cfg = dataclasses.replace(
        train_cfg,
        steps=steps,
        warmup_steps=min(train_cfg.warmup_steps, max(steps // 10, 1)),
        checkpoint_every=steps,  # one checkpoint, at the end: a trial is not resumed
        log_every=max(1, min(train_cfg.log_every, steps)),
        progress=False,
    )
    return model_cfg, train_cfg


def run_trial(
    data: SearchData, params: dict[str, Any], cfg: RunConfig, workdir: Path, on_value: OnValue
) -> TrialOutcome:
    """Pretrain, fine-tune and score one point of the space. on_value(value, step) gets the
    fine-tune validation curve as it is drawn; it may raise to stop the trial (pruning).
    The trial's folder is removed at the end, whatever happened."""
    from karpa_models.pretraining import load_foundation, pretrain

    started = time.perf_counter()
    workdir = Path(workdir)
    try:
        steps = cfg.search.pretrain_steps
        model_cfg, train_cfg = trial_configs(params, cfg, steps)
        checks = cfg.pretrain.checks
        if data.checks is not None:
            # At least three checks in a trial's short pretraining, whatever the retrain's
            # cadence; the pruner gets the combined score (step 0, the same untrained start
            # for every trial of an architecture, is not reported).
            checks = checks.model_copy(update={"every": min(checks.every, max(1, steps // 3))})

        def on_check(step: int, score: float) -> None:
            if step > 0:
                on_value(score, step)

        result = pretrain(
            data.corpus,
            model_cfg,
            train_cfg,
            workdir / "foundation",
            resume=False,
            tokenizer=data.tokenizer,
            checks=data.checks,
            checks_cfg=checks.to_model() if data.checks is not None else None,
            on_check=on_check,
        )
        foundation, tokenizer, _ = load_foundation(result.checkpoint_path)
        quality, latency, metrics = {}, {}, {}
        for i, app in enumerate(cfg.search.applications):

            def report(value: float, step: int, offset: int = (i + 1) * STEP_STRIDE) -> None:
                on_value(value, offset + step)

            if app == "recommendation":
                q, metric, model_dir = _recommendation(
                    data,
                    foundation,
                    tokenizer,
                    result.checkpoint_path,
                    params,
                    cfg,
                    workdir,
                    report,
                )
                histories = [
                    [data.rec.catalogue.item_ids[i] for i in h]
                    for h in data.rec.val_histories[:LATENCY_INPUTS]
                ]
                latency[app] = obj.recommender_latency(
                    model_dir, histories, cfg.search.latency_requests
                )
            else:
                q, metric, model_dir = _classifier(
                    app, data, foundation, tokenizer, params, cfg, workdir, report
                )
                texts = data.text_tasks[app].val.texts[:LATENCY_INPUTS]
                latency[app] = obj.classifier_latency(model_dir, texts, cfg.search.latency_requests)
            quality[app], metrics[app] = q, metric
        return TrialOutcome(
            quality=quality,
            latency=latency,
            params=obj.parameter_count(foundation),
            seconds=time.perf_counter() - started,
            metrics=metrics,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _classifier(
    app: str,
    data: SearchData,
    foundation: Any,
    tokenizer: Any,
    params: dict[str, Any],
    cfg: RunConfig,
    workdir: Path,
    report: OnValue,
) -> tuple[float, str, Path]:
    """Fine-tune the application's recipe (full mode, the trial's LR, the search's step
    budget) -> (best validation metric, its name, the saved model's folder)."""
    from karpa.applications.text_finetune import finetune_on_task
    from karpa_models.finetune.saved import save_classifier

    settings = app_config(app, cfg.finetune, cfg.pretrain.preset)
    steps = cfg.search.finetune_steps
    base = settings.classifier()
    recipe = dataclasses.replace(
        base,
        mode="full",
        max_steps=steps,
        min_steps=min(base.min_steps, steps),
        lr=float(params["finetune_lr"]),
        evals_per_epoch=max(base.evals_per_epoch, 4),  # a curve the pruner can read
    )
    key = f"{app}/val_{recipe.metric}"

    def on_metrics(metrics: dict[str, float], step: int) -> None:
        if key in metrics:
            report(float(metrics[key]), step)

    clf = finetune_on_task(
        data.text_tasks[app], foundation, tokenizer, recipe, name=app, on_metrics=on_metrics
    )
    folder = save_classifier(clf, workdir / app)
    return float(clf.train_info[f"best_val_{recipe.metric}"]), recipe.metric, Path(folder)


def _recommendation(
    data: SearchData,
    foundation: Any,
    tokenizer: Any,
    checkpoint: Path,
    params: dict[str, Any],
    cfg: RunConfig,
    workdir: Path,
    report: OnValue,
) -> tuple[float, str, Path]:
    """Fine-tune the next-item recommender (the sequence model the served hybrid blends)
    -> (best validation metric, its name, the saved model's folder)."""
    from karpa.applications.rec_hybrid import validation_split
    from karpa.evaluation.ranking import validation_metrics
    from karpa_models.finetune.next_item import train_recommender
    from karpa_models.finetune.recommender import pretrained_item_decoder
    from karpa_models.finetune.saved import save_recommender

    settings = app_config("recommendation", cfg.finetune, cfg.pretrain.preset)
    recipe = dataclasses.replace(
        settings.recommender(),
        max_steps=cfg.search.finetune_steps,
        min_steps=0,
        lr=float(params["finetune_lr"]),
    )
    rec = data.rec
    rows, _ = validation_split(len(rec.val_targets), settings)  # the application's users
    key = f"recommendation/val_{recipe.metric.replace('@', '_at_')}"

    def on_metrics(metrics: dict[str, float], step: int) -> None:
        if key in metrics:
            report(float(metrics[key]), step)

    decoder = pretrained_item_decoder(checkpoint) if settings.use_pretrained_head else None
    model = train_recommender(
        foundation,
        tokenizer,
        rec.catalogue,
        rec.train_sequences,
        [rec.val_histories[i] for i in rows],
        rec.val_targets[rows],
        recipe,
        decoder,
        on_metrics,
        name="recommendation",
        val_metrics=validation_metrics,
    )
    folder = save_recommender(model, workdir / "recommendation")
    return float(model.train_info[f"best_val_{recipe.metric}"]), recipe.metric, Path(folder)
