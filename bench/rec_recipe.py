"""The recommender's recipe on MovieLens, chosen on validation: one foundation, then the
sequence model fine-tuned once per attention mode (bidirectional BERT4Rec-style, as
pretraining trains the behaviour tower; causal SASRec-style, every position a target),
each scored with EASE and the validation-chosen hybrid on the validation users only.

    .venv/bin/python bench/rec_recipe.py --pretrain-steps 100 --home .karpa/bench/rec-recipe

Validation is each user's second-to-last item after the rest of the training period (the
application's leave-last-out split); the test items are never read. The recipe otherwise
is the preset's (`karpa/configs/real/movielens.yaml`): early stopping reads the preset's
500 validation users, the table reports all of them. A home that holds the foundation
(same views, same pretraining config) reuses it."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _common import direct_views, header  # noqa: E402

MODES = ("bidirectional", "causal")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-steps", type=int, default=100)
    parser.add_argument("--preset", default="small", help="model preset (default small)")
    parser.add_argument("--attention", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--seed", type=int, default=0, help="pretraining and fine-tune seed")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument(
        "--datasets",
        type=Path,
        default=REPO.parent / "shared" / "datasets",
        help="folder holding movielens_latest_small/",
    )
    parser.add_argument("--home", type=Path, default=Path(".karpa/bench/rec-recipe"))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import numpy as np
    import torch

    from karpa.applications.data import load_recommendation
    from karpa.applications.encoders import load_encoders
    from karpa.applications.recommendation import hybrid_model
    from karpa.config import load_config
    from karpa.evaluation.baselines import EASERecommender
    from karpa.evaluation.ranking import evaluate_ranking, seen_mask, validation_metrics
    from karpa.finetuning import app_config
    from karpa.pretraining.stage import pretrain_foundation
    from karpa.store import Store
    from karpa_models.finetune.next_item import train_recommender
    from karpa_models.finetune.recommender import pretrained_item_decoder

    torch.set_num_threads(args.threads)
    data_root = args.datasets / "movielens_latest_small"
    if not data_root.is_dir():
        raise SystemExit(f"rec_recipe: {data_root} is missing (karpa data fetch ...)")
    cfg = load_config(
        REPO / "karpa/configs/real/movielens.yaml",
        [
            "until=finetune",
            "pretrain.progress=false",
            f"pretrain.preset={args.preset}",
            f"pretrain.steps={args.pretrain_steps}",
            "pretrain.device=cpu",
            "finetune.device=cpu",
            f"seed={args.seed}",
            f"finetune.recommendation.seed={args.seed}",
        ],
        str(data_root),
    )
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

    def validation(scores: np.ndarray) -> dict[str, float]:
        return evaluate_ranking(scores, data.val_targets, exclude=exclude).metrics

    # The early-stopping users, as the application draws them.
    rows = np.arange(len(data.val_targets))
    if rc.max_val_users is not None and len(rows) > rc.max_val_users:
        rng = np.random.default_rng(rc.seed)
        rows = np.sort(rng.choice(rows, size=rc.max_val_users, replace=False))
    ease = EASERecommender(len(data.catalogue), l2=rc.ease_l2).fit(data.train_sequences)
    ease_val = validation(ease.score(data.val_histories))["ndcg@10"]
    lines = [f"| EASE (l2 {rc.ease_l2:g}) | {ease_val:.4f} | — | — | — |"]
    best: tuple[float, str] = (-1.0, "")
    for mode in args.attention:
        recipe = dataclasses.replace(rc, attention=mode)
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
            name=f"recommendation/{mode}",
            val_metrics=validation_metrics,
        )
        seconds = time.perf_counter() - began
        _, choice = hybrid_model(rec, ease, data, recipe)
        ndcg = validation(rec.score(data.val_histories))["ndcg@10"]
        info = rec.train_info
        lines.append(
            f"| {mode} | {ndcg:.4f} | {choice.validation:.4f} | "
            f"{info['best_step']} of {info['steps']} | {seconds:.0f} |"
        )
        best = max(best, (choice.validation, mode))
    command = "python bench/rec_recipe.py " + " ".join(sys.argv[1:])
    print(header("MovieLens recommender recipe, on validation", command))
    print(
        f"# foundation: {args.preset} preset, {foundation.steps} pretraining steps, seed "
        f"{args.seed}; {len(data.val_targets)} validation users, full ranking of "
        f"{len(data.catalogue)} items, history items excluded"
    )
    print("| model | val NDCG@10 | val NDCG@10 of the hybrid with EASE | best step | seconds |")
    print("|---|---|---|---|---|")
    print("\n".join(lines))
    print(f"chosen on validation (the served hybrid's NDCG@10): attention {best[1]}")


if __name__ == "__main__":
    main()
