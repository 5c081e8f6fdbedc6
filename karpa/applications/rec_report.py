"""Turning the ranked recommenders into intervals, slices, plots, the saved model, the
model card and the AppReport."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from karpa.applications.cards import write_card
from karpa.applications.data import RecData
from karpa.applications.encoders import PRETRAINED, SCRATCH
from karpa.applications.figures import comparison_plot, comparison_rows
from karpa.applications.ranked import RankedModel
from karpa.applications.rec_config import RecommendationConfig
from karpa.applications.rec_hybrid import BlendChoice, validation_split
from karpa.applications.report import AppReport, interval_dict
from karpa.applications.robustness import rec_robustness_slices
from karpa.evaluation.bootstrap import bootstrap_ci, paired_bootstrap
from karpa.evaluation.plots import robustness_plot
from karpa.evaluation.slices import (
    by_history_length,
    by_item_popularity,
    cold_items,
    cold_start,
    short_history,
    slice_table,
)
from karpa_models.finetune.hybrid import HybridRecommender
from karpa_models.finetune.saved import save_hybrid, save_recommender

logger = logging.getLogger(__name__)

HEADLINE = "ndcg@10"


def _protocol_line(model: RankedModel) -> str:
    p = model.full.protocol
    seen = "history kept"
    if p["exclude_seen"]:
        seen = "history excluded"
        if p.get("excluded_target") == "miss":
            missed = p["users_target_in_history_missed"]
            seen += (
                f" (a test item repeating a history item is a miss: {missed:,} of "
                f"{p['n_users']:,} users)"
            )
    return f"full ranking of {p['n_items']} items, {seen}, ties count against the model"


def rec_slices(
    models: Sequence[RankedModel], main: RankedModel, data: RecData, cfg: RecommendationConfig
) -> list[dict[str, Any]]:
    """NDCG@10 and HR@10 by cold start, cold items (< cfg.cold_below training
    interactions), target popularity (head / mid / tail), short histories (< 5 items) and
    history length: the main model with intervals, every other model's NDCG@10 as
    ndcg@10/<model> (which part of the hybrid wins where), and every model's NDCG@10
    under the sampled protocol as sampled<N>/ndcg@10[/<model>], and the main model minus
    each baseline, paired, with intervals (`slice_differences`)."""
    lengths = [len(h) for h in data.test_histories]
    slicings = [
        cold_start(data.test_targets, data.item_counts),
        cold_items(data.test_targets, data.item_counts, cfg.cold_below),
        by_item_popularity(data.test_targets, data.item_counts),
        short_history(lengths, 5),
        by_history_length(lengths, cfg.history_edges),
    ]
    per_user = main.full.per_user()
    mine = {"ndcg@10": per_user["ndcg@10"], "hr@10": per_user["hr@10"]}
    records = slice_table(
        slicings,
        mine,
        n_resamples=min(cfg.n_resamples, 200),
        confidence=cfg.confidence,
        seed=cfg.seed,
    )
    others = {f"ndcg@10/{m.name}": m.full.per_user()["ndcg@10"] for m in models if m is not main}
    # Under full ranking a cold item competes with the whole catalogue and rarely reaches
    # any model's top 10; against the sampled protocol's negatives the slices still tell
    # whether content ranks it above items the user does not want.
    n_neg = main.sampled.protocol["n_negatives"]
    sampled = {
        f"sampled{n_neg}/ndcg@10" + ("" if m is main else f"/{m.name}"): m.sampled.per_user()[
            "ndcg@10"
        ]
        for m in models
    }
    records += slice_table(slicings, others | sampled)
    # Whether the served model beats a baseline where content should carry (cold items,
    # short histories, the tail) is a question about the difference on the same users:
    # two separate intervals that overlap say nothing about it.
    records += slice_table(
        slicings,
        slice_differences(main, [m for m in models if m.kind == "baseline"]),
        n_resamples=min(cfg.n_resamples, 200),
        confidence=cfg.confidence,
        seed=cfg.seed,
    )
    return records


def slice_differences(main: RankedModel, baselines: Sequence[RankedModel]) -> dict[str, np.ndarray]:
    """Per test user, the main model's NDCG@10 minus each baseline's, under full ranking
    (delta/ndcg@10/<baseline>) and against the sampled negatives
    (delta/sampled<N>/ndcg@10/<baseline>): each (U,), so a bucket's mean is the paired
    difference and its bootstrap interval the paired one."""
    n_neg = main.sampled.protocol["n_negatives"]
    out: dict[str, np.ndarray] = {}
    for protocol, name in (("full", HEADLINE), ("sampled", f"sampled{n_neg}/{HEADLINE}")):
        mine = getattr(main, protocol).per_user()[HEADLINE]
        for m in baselines:
            out[f"delta/{name}/{m.name}"] = mine - getattr(m, protocol).per_user()[HEADLINE]
    return out


def _blend_line(choice: BlendChoice) -> str:
    b = choice.blend
    names = ["<=" + str(b.history_edges[0])] if b.history_edges else ["all"]
    names += [f"{lo + 1}-{hi}" for lo, hi in pairwise(b.history_edges)]
    names += [f">{b.history_edges[-1]}"] if b.history_edges else []
    cells = ", ".join(f"{n}: {w:.1f}" for n, w in zip(names, b.weights, strict=True))
    cold = "; cold items by the sequence part alone" if b.cold_rule == "sequence" else ""
    return f"{cells}{cold}; validation NDCG@10 {choice.validation:.4f}"


def finish_recommendation(
    models: Sequence[RankedModel],
    data: RecData,
    cfg: RecommendationConfig,
    out_dir: Path,
    timings: dict[str, float],
    started: float,
    provenance: dict[str, str],
    blend: BlendChoice | None = None,
) -> AppReport:
    """Intervals, slices, the comparison plot, the saved model, the card and the report."""
    main = next(m for m in models if m.kind == "model")
    values = main.full.per_user()[HEADLINE]
    line = _protocol_line(main)
    n, conf, seed = cfg.n_resamples, cfg.confidence, cfg.seed
    headline = {
        **interval_dict(bootstrap_ci(values, n, conf, seed), HEADLINE, line),
        "model": main.name,
    }
    intervals = {
        name: interval_dict(bootstrap_ci(main.full.per_user()[name], n, conf, seed), name, line)
        for name in ("hr@10", "mrr")
    }
    comparisons = {}
    for m in models:
        if m is main:
            continue
        theirs = m.full.per_user()[HEADLINE]
        comparisons[m.name] = {
            "kind": m.kind,
            "metrics": m.metrics(),
            "headline": interval_dict(bootstrap_ci(theirs, n, conf, seed), HEADLINE, line),
            "delta": interval_dict(
                paired_bootstrap(values, theirs, n, conf, seed),
                HEADLINE,
                f"{main.name} minus {m.name}, paired bootstrap over test users",
            ),
        }
    gain = None
    if main.name == PRETRAINED and SCRATCH in comparisons:
        gain = dict(comparisons[SCRATCH]["delta"])
    elif PRETRAINED in comparisons and SCRATCH in comparisons:
        # The hybrid leads: the gain is its sequence part's, against the scratch twin.
        pre = next(m for m in models if m.name == PRETRAINED).full.per_user()[HEADLINE]
        scr = next(m for m in models if m.name == SCRATCH).full.per_user()[HEADLINE]
        gain = interval_dict(
            paired_bootstrap(pre, scr, n, conf, seed),
            HEADLINE,
            f"{PRETRAINED} minus {SCRATCH} (the sequence models), paired bootstrap",
        )
    slices = rec_slices(models, main, data, cfg)
    mark = time.perf_counter()
    robust, robust_protocol = rec_robustness_slices(
        main.recommender,
        data.test_histories,
        data.test_targets,
        len(data.catalogue),
        cfg.exclude_seen,
        cfg.robustness_users,
        min(n, 200),
        conf,
        seed,
    )
    slices += robust
    timings["robustness_s"] = time.perf_counter() - mark
    plots = {
        "comparison": comparison_plot(
            comparison_rows(main.name, headline, comparisons),
            out_dir / "comparison.png",
            HEADLINE,
            f"recommendation: test {HEADLINE} (full ranking), {conf:.0%} bootstrap intervals",
        ),
    }
    if any(r["metric"] == HEADLINE for r in robust):
        plots["robustness"] = robustness_plot(
            robust,
            out_dir / "robustness.png",
            HEADLINE,
            f"recommendation: {main.name} on perturbed test histories, {conf:.0%} intervals",
        )
    if isinstance(main.recommender, HybridRecommender):
        model_dir = save_hybrid(main.recommender, out_dir / "model")
    else:
        model_dir = save_recommender(main.recommender, out_dir / "model")
    protocol = {
        "split": "leave-last-out: train items / validation item (early stopping) / test item",
        "test_history": "train items + validation item",
        "full": main.full.protocol,
        "sampled": main.sampled.protocol,
        "headline": f"{HEADLINE}, {line}",
        "bootstrap": f"{n} percentile resamples of test users, {conf:.0%}; deltas paired",
        "cold_start": "target item with no interaction in any training sequence",
        "cold_items": f"target item with < {cfg.cold_below} training interactions",
        "short_history": "test history (train items + validation item) of < 5 items",
        "early_stopping": f"validation {cfg.metric} under full ranking on "
        f"{len(validation_split(len(data.val_targets), cfg)[0])} users, "
        f"patience {cfg.patience} epochs",
        "recommender": cfg.recommender().to_dict(),
        "pretrained_head": cfg.use_pretrained_head,
        **robust_protocol,
        "test_users": len(data.test_targets),
        "test_users_available": data.n_test_total,
        **provenance,
    }
    cold = int(np.sum(data.item_counts[data.test_targets] == 0))
    data_info = {
        "items": len(data.catalogue),
        "items_with_image": int(np.sum(data.catalogue.has_image))
        if data.catalogue.has_image is not None
        else 0,
        "warm_items": int(np.sum(data.item_counts > 0)),
        "training_sequences": len(data.train_sequences),
        "test_users": len(data.test_targets),
        "cold_test_targets": cold,
    }
    summary = (
        f"Ranks the whole catalogue of {len(data.catalogue)} items for a user's next "
        f"interaction, from the {main.name} behaviour tower; items without history score "
        "by their text and image content."
    )
    if blend is not None:
        protocol["blend"] = {
            **blend.blend.to_dict(),
            "validation_ndcg@10": blend.validation,
            "chosen_on": f"{blend.users} validation users (train items in, validation "
            "item as target) that early stopping did not read, full ranking, history "
            "excluded",
            "table": blend.table,
        }
        summary = (
            f"Ranks the whole catalogue of {len(data.catalogue)} items for a user's next "
            "interaction: the pretrained behaviour tower (item embeddings fused with text "
            "and image content) blended with EASE, each z-scored per user; the sequence "
            f"weight per history length ({_blend_line(blend)}) was chosen on validation "
            "users. Unknown users get the popularity ranking, marked as a fallback."
        )
    limits = [
        "Sampled-negative numbers flatter every model; decisions use full ranking.",
        "An item with no training interaction scores by its content alone (EASE knows "
        "nothing of it); an item added to the catalogue after pretraining has no content "
        "vector and is unknown to the saved model until the foundation is retrained.",
        "A user with no known history item gets the training popularity ranking, marked "
        "'popularity fallback: unknown user' in the served output.",
    ]
    if data.n_test_total > len(data.test_targets):
        limits.append(f"Test capped at {len(data.test_targets)} of {data.n_test_total} users.")
    details = {"model_dir": str(model_dir)}
    if blend is not None:
        details["blend (sequence weight by history length)"] = _blend_line(blend)
    for m in models:
        if m.train_info:
            details[f"training ({m.name})"] = (
                f"{m.train_info['steps']} steps, best at {m.train_info['best_step']}, "
                f"{m.train_info['seconds']:.1f}s"
            )
    timings["total_s"] = time.perf_counter() - started
    card = write_card(
        application="recommendation",
        model_name=f"recommendation-{main.name}",
        summary=summary,
        headline=headline,
        metrics=main.metrics(),
        intervals=intervals,
        comparisons=comparisons,
        slices=slices,
        figures={
            caption: plots[key]
            for key, caption in (
                ("comparison", "Headline metric of every model on the same test users"),
                (
                    "robustness",
                    f"{HEADLINE} of the same test users, clean and with each history perturbation",
                ),
            )
            if key in plots
        },
        protocol=protocol,
        data=data_info,
        details=details,
        limits=limits,
        out_dir=out_dir,
        confidence=conf,
    )
    report = AppReport(
        application="recommendation",
        model_name=f"recommendation-{main.name}",
        headline=headline,
        metrics=main.metrics(),
        intervals=intervals,
        comparisons=comparisons,
        pretraining_gain=gain,
        slices=slices,
        artifacts={
            "plots": {k: str(v) for k, v in plots.items()},
            "model_card": card,
            "model_dir": str(model_dir),
            "report": str(out_dir / "report.json"),
        },
        protocol=protocol,
        data=data_info,
        training={
            m.name: {k: v for k, v in m.train_info.items() if k != "history"}
            for m in models
            if m.train_info
        },
        timings=timings,
    )
    report.write(out_dir / "report.json")
    logger.info(
        "recommendation: %s %s %.4f [%.4f, %.4f] in %.1fs",
        main.name,
        HEADLINE,
        headline["estimate"],
        headline["low"],
        headline["high"],
        timings["total_s"],
    )
    return report
