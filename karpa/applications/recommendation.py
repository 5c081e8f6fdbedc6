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
from karpa.applications.ranked import RankedModel
from karpa.applications.rec_config import RecommendationConfig
from karpa.applications.rec_hybrid import BlendChoice, choose_blend, validation_split
from karpa.applications.rec_report import finish_recommendation
from karpa.applications.report import AppReport
from karpa.evaluation.baselines import EASERecommender, ItemKNNRecommender, PopularityRecommender
from karpa.evaluation.ranking import evaluate_ranking, seen_mask, validation_metrics
from karpa_models.finetune.hybrid import HybridRecommender
from karpa_models.finetune.loop import MetricsCallback
from karpa_models.finetune.next_item import train_recommender
from karpa_models.finetune.predictors import FineTunedRecommender
from karpa_models.finetune.recommender import pretrained_item_decoder
from karpa_models.progress import Progress
from karpa_models.runtime import init_runtime

__all__ = ["HYBRID", "RankedModel", "RecommendationConfig", "run_recommendation"]

HYBRID = "karpa"  # the served model: sequence model + EASE, blended on validation
IDS_ONLY = "_ids_only"  # the content ablation's suffix

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
        n_items,
        wanted,
        n_items - 1,
    )
    return n_items - 1


def rank(
    name: str, kind: str, scores: np.ndarray, data: RecData, cfg: RecommendationConfig, **extra: Any
) -> RankedModel:
    exclude = seen_mask(data.test_histories, len(data.catalogue)) if cfg.exclude_seen else None
    # The saved model never recommends a history item, so a test item that repeats one is a
    # miss for it (and for every model here): the report measures what is served.
    full = evaluate_ranking(
        scores, data.test_targets, ks=(10,), exclude=exclude, excluded_target="miss"
    )
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


def baselines(
    data: RecData, cfg: RecommendationConfig, ease: EASERecommender | None = None
) -> list[RankedModel]:
    """Popularity, item-kNN and EASE (`ease`, when given, is already fitted)."""
    n = len(data.catalogue)
    fitted = {
        "popularity": PopularityRecommender(n),
        "item_knn": ItemKNNRecommender(n, n_neighbors=cfg.knn_neighbors),
        "ease": ease or EASERecommender(n, l2=cfg.ease_l2),
    }
    out = []
    progress = Progress(
        "recommendation baselines", len(fitted), unit="baseline", every=1, logger=logger
    )
    for name, model in fitted.items():
        if name != "ease" or ease is None:
            model.fit(data.train_sequences)
        out.append(rank(name, "baseline", model.score(data.test_histories), data, cfg))
        progress.update(detail=f"{name} fitted and ranked")
    return out


def hybrid_model(
    rec: FineTunedRecommender,
    ease: EASERecommender,
    data: RecData,
    cfg: RecommendationConfig,
    rows: np.ndarray,
) -> tuple[HybridRecommender, BlendChoice]:
    """The sequence model blended with EASE, the blend chosen on the validation users
    `rows` (training items in, validation item as target; users early stopping did not
    read: `validation_split`); the test users are never read."""
    histories = [data.val_histories[i] for i in rows]
    choice = choose_blend(
        rec.score(histories),
        ease.score(histories),
        histories,
        data.val_targets[rows],
        data.item_counts,
        cfg.blend_grid,
        cfg.blend_history_edges,
        cfg.cold_below,
        cfg.blend_min_users,
    )
    hybrid = HybridRecommender(
        rec,
        ease.weights.astype(np.float32),
        data.item_counts.astype(np.int64),
        choice.blend,
        train_info=dict(rec.train_info),
    )
    return hybrid, choice


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
    val_rows, blend_rows = validation_split(len(data.val_targets), cfg)
    val_histories = [data.val_histories[i] for i in val_rows]
    models: list[RankedModel] = []
    runs = [(enc, True) for enc in encoders]
    if cfg.content_ablation and encoders[0].name == PRETRAINED:
        runs.append((encoders[0], False))
    for enc, use_content in runs:
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
            name=f"recommendation/{enc.name}" + ("" if use_content else IDS_ONLY),
            val_metrics=validation_metrics,
            use_content=use_content,
        )
        kind = "ablation" if enc.name == SCRATCH and PRETRAINED in names else "model"
        kind = kind if use_content else "ablation"
        models.append(
            rank(
                enc.name + ("" if use_content else IDS_ONLY),
                kind,
                rec.score(data.test_histories),
                data,
                cfg,
                recommender=rec,
                train_info=rec.train_info,
            )
        )
    timings = {"fine_tune_s": time.perf_counter() - started}
    mark = time.perf_counter()
    ease = EASERecommender(len(data.catalogue), l2=cfg.ease_l2).fit(data.train_sequences)
    choice = None
    if cfg.hybrid:
        # The hybrid is the application's model: the sequence model it blends stays
        # reported beside it (kind "model" too, second), so each part's share shows.
        hybrid, choice = hybrid_model(models[0].recommender, ease, data, cfg, blend_rows)
        models.insert(
            0,
            rank(HYBRID, "model", hybrid.score(data.test_histories), data, cfg, recommender=hybrid),
        )
        timings["hybrid_s"] = time.perf_counter() - mark
    if cfg.run_baselines:
        mark = time.perf_counter()
        models += baselines(data, cfg, ease)
        timings["baselines_s"] = time.perf_counter() - mark
    protocol = provenance(foundation_ckpt)
    return finish_recommendation(models, data, cfg, out_dir, timings, started, protocol, choice)
