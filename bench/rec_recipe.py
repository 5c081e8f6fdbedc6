"""The recommender's recipe, chosen on validation: one foundation, then the sequence
model fine-tuned once per attention mode (bidirectional BERT4Rec-style, as pretraining
trains the behaviour tower; causal SASRec-style, every position a target), each scored
with EASE and the validation-chosen hybrid on the validation users only, overall and on
the cold-item and short-history slices.

    .venv/bin/python bench/rec_recipe.py --pretrain-steps 100 --home .karpa/bench/rec-recipe
    .venv/bin/python bench/rec_recipe.py --world demo --home .karpa/bench/rec-recipe-demo
    .venv/bin/python bench/rec_recipe.py --world demo --attention causal \
        --set finetune.recommendation.epochs=16     # any config override, every variant

Validation is each user's second-to-last item after the rest of the training period (the
application's leave-last-out split); the test items are never read. The recipe otherwise
is the world's config (MovieLens: `karpa/configs/real/movielens.yaml`; the demo world,
generated with --world-seed at scale 1: `karpa/configs/demo.yaml`): early stopping reads
the config's validation users, the table reports all of them. A home that holds the
foundation (same views, same pretraining config) reuses it."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _common import SHARED_DATASETS, add_overrides, direct_views, header  # noqa: E402

MODES = ("bidirectional", "causal")
WORLDS = ("movielens", "demo")
SHORT_BELOW = 5  # a short history: fewer training events than this (issue 23's slice)
SAMPLED = ("all", "cold items")  # the slices also scored against sampled negatives


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", choices=WORLDS, default="movielens")
    parser.add_argument("--world-seed", type=int, default=0, help="the demo world's generator seed")
    parser.add_argument(
        "--pretrain-steps", type=int, default=None, help="default: the config's (preset's)"
    )
    parser.add_argument(
        "--preset", default=None, help="model preset (default: the config's; MovieLens small)"
    )
    parser.add_argument("--attention", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument(
        "--id-dropout",
        type=float,
        nargs="+",
        default=None,
        help="id dropout shares to try with each mode (default: the config's)",
    )
    parser.add_argument("--seed", type=int, default=0, help="pretraining and fine-tune seed")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument(
        "--datasets",
        type=Path,
        default=SHARED_DATASETS,
        help="folder holding movielens_latest_small/",
    )
    parser.add_argument("--home", type=Path, default=Path(".karpa/bench/rec-recipe"))
    add_overrides(parser, "finetune.recommendation.epochs=16", "every variant")
    return parser.parse_args()


def world_source(args: argparse.Namespace) -> tuple[Path, Path]:
    """(config file, data folder) of the world the recipe is chosen on; the demo world
    is generated into the home (byte-identical for one seed, so a rerun reuses its views
    and foundation)."""
    if args.world == "demo":
        from karpa.demo import generate_world

        world = args.home / f"world-{args.world_seed}"
        if not (world / "world.json").is_file():
            generate_world(world, scale=1.0, seed=args.world_seed)
        return REPO / "karpa/configs/demo.yaml", world
    data_root = args.datasets / "movielens_latest_small"
    if not data_root.is_dir():
        raise SystemExit(f"rec_recipe: {data_root} is missing (karpa data fetch ...)")
    return REPO / "karpa/configs/real/movielens.yaml", data_root


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import numpy as np
    import torch

    from karpa.applications.data import load_recommendation
    from karpa.applications.encoders import load_encoders
    from karpa.applications.rec_hybrid import validation_split
    from karpa.applications.recommendation import hybrid_model, sampled_negatives
    from karpa.config import load_config
    from karpa.evaluation.baselines import EASERecommender
    from karpa.evaluation.ranking import evaluate_ranking, seen_mask, validation_metrics
    from karpa.finetuning import app_config
    from karpa.pretraining.stage import pretrain_foundation
    from karpa.store import Store
    from karpa_models.finetune.next_item import train_recommender
    from karpa_models.finetune.recommender import pretrained_item_decoder

    torch.set_num_threads(args.threads)
    config, data_root = world_source(args)
    sets = [
        "until=finetune",
        "pretrain.progress=false",
        "pretrain.device=cpu",
        "finetune.device=cpu",
        f"seed={args.seed}",
        f"finetune.recommendation.seed={args.seed}",
    ]
    sets += [f"pretrain.preset={args.preset}"] if args.preset else []
    sets += [f"pretrain.steps={args.pretrain_steps}"] if args.pretrain_steps else []
    sets += args.set
    cfg = load_config(config, sets, str(data_root))
    store = Store(args.home / "store")
    views = direct_views(cfg, store)
    foundation = pretrain_foundation(views, cfg.pretrain, cfg.seed, store)
    checkpoint = Path(foundation.checkpoint)
    rc = app_config("recommendation", cfg.finetune, cfg.pretrain.preset)
    data = load_recommendation(Path(views.path), None, rc.seed)
    (encoder,) = load_encoders(
        Path(views.path), checkpoint, "cpu", len(data.catalogue), rc.preset, False, rc.seed
    )
    exclude = seen_mask(data.val_histories, len(data.catalogue))
    # The slices issue 23 asks about, on the validation users: a target item with fewer
    # than cold_below training interactions, a history shorter than SHORT_BELOW events.
    slices = {
        "all": np.ones(len(data.val_targets), dtype=bool),
        "cold items": data.item_counts[data.val_targets] < rc.cold_below,
        "short histories": np.array([len(h) < SHORT_BELOW for h in data.val_histories]),
    }

    # Against the sampled protocol's negatives too: in a full ranking a cold item rarely
    # reaches anyone's top 10, so only there can content's (and id dropout's) effect on
    # cold items show.
    n_neg = sampled_negatives(rc.n_negatives, len(data.catalogue))  # as the report's protocol
    sampled_slices = {f"{name} ({n_neg} neg)": slices[name] for name in SAMPLED}

    def sliced(scores: np.ndarray) -> str:
        full = evaluate_ranking(scores, data.val_targets, exclude=exclude).per_user()
        sampled = evaluate_ranking(
            scores,
            data.val_targets,
            exclude=exclude,
            n_negatives=n_neg,
            seed=rc.negatives_seed,
        ).per_user()
        cells = [(full, rows) for rows in slices.values()]
        cells += [(sampled, rows) for rows in sampled_slices.values()]
        return " | ".join(
            f"{ndcg['ndcg@10'][rows].mean():.4f}" if rows.any() else "—" for ndcg, rows in cells
        )

    # The early-stopping users and the blend's, as the application draws them.
    rows, blend_rows = validation_split(len(data.val_targets), rc)
    ease = EASERecommender(len(data.catalogue), l2=rc.ease_l2).fit(data.train_sequences)
    lines = [f"| EASE (l2 {rc.ease_l2:g}) | {sliced(ease.score(data.val_histories))} | — | — |"]
    best: tuple[float, str] = (-1.0, "")
    variants = [
        (mode, drop) for mode in args.attention for drop in (args.id_dropout or [rc.id_dropout])
    ]
    for mode, drop in variants:
        recipe = dataclasses.replace(rc, attention=mode, id_dropout=drop)
        label = f"{mode}, id dropout {drop:g}" if args.id_dropout else mode
        began = time.perf_counter()
        rec = train_recommender(
            encoder.model,
            encoder.tokenizer,
            data.catalogue,
            data.train_sequences,
            [data.val_histories[i] for i in rows],
            data.val_targets[rows],
            recipe.recommender(),
            pretrained_item_decoder(checkpoint) if rc.use_pretrained_head else None,
            name=f"recommendation/{label}",
            val_metrics=validation_metrics,
        )
        seconds = time.perf_counter() - began
        hybrid, choice = hybrid_model(rec, ease, data, recipe, blend_rows)
        info = rec.train_info
        steps = f"{info['best_step']} of {info['steps']}"
        lines.append(
            f"| {label} | {sliced(rec.score(data.val_histories))} | {steps} | {seconds:.0f} |"
        )
        lines.append(
            f"| {label} + EASE hybrid | {sliced(hybrid.score(data.val_histories))} | — | — |"
        )
        best = max(best, (choice.validation, label))
    command = "python bench/rec_recipe.py " + " ".join(sys.argv[1:])
    print(header(f"{args.world} recommender recipe, on validation", command))
    counts = " / ".join(f"{name} {int(rows.sum())}" for name, rows in slices.items())
    print(
        f"# foundation: {cfg.pretrain.preset} preset, {foundation.steps} pretraining steps, "
        f"seed {args.seed}; validation users: {counts} (cold: target item with < "
        f"{rc.cold_below} training interactions; short: < {SHORT_BELOW} training events); "
        f"full ranking of {len(data.catalogue)} items, history items excluded; the "
        f"'neg' columns rank the item among {n_neg} sampled negatives (seed "
        f"{rc.negatives_seed}) instead"
    )
    names = " | ".join(f"val NDCG@10 {name}" for name in [*slices, *sampled_slices])
    print(f"| model | {names} | best step | seconds |")
    print("|---|" + "---|" * (len(slices) + len(sampled_slices) + 2))
    print("\n".join(lines))
    print(f"chosen on validation (the served hybrid's NDCG@10, all users): {best[1]}")


if __name__ == "__main__":
    main()
