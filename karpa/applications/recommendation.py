"""Next-item recommendation, leave-last-out.

Models train on every user's training items; the validation item early-stops them; the
test item is ranked given the training items plus the validation item. Every model (the
fine-tuned behaviour tower, its scratch twin, popularity, item-kNN, EASE) scores the whole
catalogue for the same users, and every number comes with its candidate protocol: full
ranking (the headline) and 100 sampled negatives (for comparison with papers).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from karpa.applications.data import RecData, load_recommendation
from karpa.applications.encoders import PRETRAINED, SCRATCH, load_encoders, provenance
from karpa.applications.rec_config import RecommendationConfig
from karpa.applications.rec_ranked import RankedModel
from karpa.applications.rec_report import finish_recommendation
from karpa.applications.report import AppReport
from karpa.evaluation.baselines import EASERecommender, ItemKNNRecommender, PopularityRecommender
from karpa.evaluation.ranking import evaluate_ranking, seen_mask, validation_metrics
from karpa_models.finetune.loop import MetricsCallback
from karpa_models.finetune.next_item import train_recommender
from karpa_models.finetune.recommender import pretrained_item_decoder
from karpa_models.runtime import init_runtime

__all__ = ["RankedModel", "RecommendationConfig", "run_recommendation"]

logger = logging.getLogger(__name__)


def sampled_negatives(wanted: int, n_items: int) -> int:
    """The sampled protocol's negatives per user: `wanted`, or every other item of a
    catalogue too small for it (the protocol records the number used, and metric names
    carry it: sampled100/..., sampled98/...)."""
    if n_items - 1 >= wanted:
        return wanted
    logger.warning(
        "recommendation: a catalogue of %d items has fewer than %d negatives per user; "
        "the sampled protocol uses all %d other items",
        n_items, wanted, n_items - 1,
    )
    return n_items - 1


def rank(
    name: str, kind: str, scores: np.ndarray, data: RecData, cfg: RecommendationConfig, **extra: Any
) -> RankedModel:
    exclude = seen_mask(data.test_histories, len(data.catalogue)) if cfg.exclude_seen else None
    # The saved model never recommends a history item, so a test item that repeats one is a
    # miss for it (and for every model here): the report measures what is served.
    full = evaluate_ranking(scores, data.test_targets, ks=(10,), exclude=exclude,
                            excluded_target="miss")
    sampled = evaluate_ranking(
        scores,
        data.test_targets,
        ks=(10,),
        exclude=exclude,
        n_negatives=sampled_negatives(cfg.n_negatives, len(data.catalogue)),
        seed=cfg.negatives_seed,
        excluded_target="miss",
    )
    return RankedModel(name, kind, full, sampled, **extra)


def baselines(data: RecData, cfg: RecommendationConfig) -> list[RankedModel]:
    n = len(data.catalogue)
    fitted = {
        "popularity": PopularityRecommender(n),
        "item_knn": ItemKNNRecommender(n, n_neighbors=cfg.knn_neighbors),
        "ease": EASERecommender(n, l2=cfg.ease_l2),
    }
    out = []
    for name, model in fitted.items():
        model.fit(data.train_sequences)
        out.append(rank(name, "baseline", model.score(data.test_histories), data, cfg))
    return out


def run_recommendation(
    views_dir: Path,
    foundation_ckpt: Path | None,
    cfg: RecommendationConfig,
    out_dir: Path,
    on_metrics: MetricsCallback | None = None,
) -> AppReport:
    """Fine-tune and evaluate next-item recommendation on the leave-last-out split;
    writes plots, the model card, the saved model and report.json into out_dir."""
    started = time.perf_counter()
    views_dir, out_dir = Path(views_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runtime = init_runtime(cfg.device)
    data = load_recommendation(views_dir, cfg.max_test_users, cfg.seed)
    encoders = load_encoders(
        views_dir,
        foundation_ckpt,
        str(runtime.device),
        len(data.catalogue),
        cfg.preset,
        cfg.run_scratch,
        cfg.seed,
    )
    names = [e.name for e in encoders]
    val_rows = np.arange(len(data.val_targets))
    if cfg.max_val_users is not None and len(val_rows) > cfg.max_val_users:
        rng = np.random.default_rng(cfg.seed)
        val_rows = np.sort(rng.choice(val_rows, size=cfg.max_val_users, replace=False))
    val_histories = [data.val_histories[i] for i in val_rows]
    models: list[RankedModel] = []
    for enc in encoders:
        decoder = None
        if enc.name == PRETRAINED and cfg.use_pretrained_head and foundation_ckpt is not None:
            decoder = pretrained_item_decoder(foundation_ckpt)
        rec = train_recommender(
            enc.model,
            enc.tokenizer,
            data.catalogue,
            data.train_sequences,
            val_histories,
            data.val_targets[val_rows],
            cfg.recommender(),
            decoder,
            on_metrics,
            name=f"recommendation/{enc.name}",
            val_metrics=validation_metrics,
        )
        kind = "ablation" if enc.name == SCRATCH and PRETRAINED in names else "model"
        models.append(
            rank(
                enc.name,
                kind,
                rec.score(data.test_histories),
                data,
                cfg,
                recommender=rec,
                train_info=rec.train_info,
            )
        )
    timings = {"fine_tune_s": time.perf_counter() - started}
    if cfg.run_baselines:
        mark = time.perf_counter()
        models += baselines(data, cfg)
        timings["baselines_s"] = time.perf_counter() - mark
    protocol = provenance(foundation_ckpt)
    return finish_recommendation(models, data, cfg, out_dir, timings, started, protocol)
