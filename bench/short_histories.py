"""How karpa's served recommender and the baselines rank for a user known by few events.

MovieLens latest-small has no short histories (every user rated at least 20 movies), so
the application's "fewer than 5 events" slice is empty there. This bench asks the question
the slice asks by cutting each test user's history (training items + validation item) to
its last k items, k = 1, 2, ... , and ranking the same held-out test item as the
application does (full ranking of the catalogue, the given history excluded, a test item
that repeats it a miss; and against the same 100 sampled negatives). Every model scores the
cut history: karpa's served hybrid (loaded from its saved folder, as `karpa predict`
loads it), its sequence part alone, EASE, item-kNN and popularity, fitted on the
application's training sequences. Nothing is retrained and nothing is chosen here.

What the cut does not simulate: these users' whole training histories were in every
model's training data (EASE's item-item weights and the sequence model's windows alike),
as a returning user's would be; a user who is new to the catalogue was not. With several
saved models (the runs of `bench/quality.py --tasks movielens`, e.g. over seeds), each
user's karpa figure is the mean over them, and the paired interval is over users.

    .venv/bin/python bench/short_histories.py --home .karpa/bench/short-histories \
        --models H/movielens/apps/recommendation/*/model
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from _common import SHARED_DATASETS, header, movielens_split  # noqa: E402

HEADLINE = "ndcg@10"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        type=Path,
        nargs="+",
        required=True,
        help="saved karpa-recommender folders (an application run's model/)",
    )
    parser.add_argument(
        "--datasets",
        type=Path,
        default=SHARED_DATASETS,
        help="folder holding movielens_latest_small/",
    )
    parser.add_argument("--home", type=Path, default=Path(".karpa/bench/short-histories"))
    parser.add_argument(
        "--lengths",
        type=int,
        nargs="+",
        default=[1, 2, 3, 4],
        help="history lengths to cut to (the full history is always added)",
    )
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    args = parser.parse_args()
    if any(k < 1 for k in args.lengths):
        parser.error("--lengths must be at least 1 (a history of 0 items is the fallback)")
    return args


def cut_histories(histories: Sequence[Sequence[int]], k: int | None) -> list[list[int]]:
    """Each history's last k items (all of it when k is None or the history is shorter)."""
    return [list(h) if k is None else list(h)[-k:] for h in histories]


def mean_over_runs(per_run: Sequence[np.ndarray]) -> np.ndarray:
    """(runs of (U,)) -> (U,): each user's figure averaged over the saved models."""
    return np.mean(np.stack(per_run), axis=0)


def main() -> None:
    args = parse_args()
    from karpa.applications.recommendation import rank, sampled_negatives
    from karpa.evaluation.baselines import (
        EASERecommender,
        ItemKNNRecommender,
        PopularityRecommender,
    )
    from karpa.evaluation.bootstrap import bootstrap_ci, paired_bootstrap
    from karpa_models.finetune.hybrid import blend_scores
    from karpa_models.finetune.saved import load_hybrid

    data, rc = movielens_split(args.datasets, args.home, "short_histories")
    hybrids = []
    for folder in args.models:
        hybrid = load_hybrid(folder)
        if list(hybrid.item_ids) != list(data.catalogue.item_ids):
            raise SystemExit(
                f"short_histories: {folder}: its items are not this split's catalogue "
                f"({hybrid.n_items} vs {len(data.catalogue)} items, or another order): a "
                "model trained on another MovieLens view cannot be scored on this one"
            )
        hybrids.append(hybrid)

    n = len(data.catalogue)
    fitted = {
        "popularity": PopularityRecommender(n),
        "item_knn": ItemKNNRecommender(n, n_neighbors=rc.knn_neighbors),
        "ease": EASERecommender(n, l2=rc.ease_l2),
    }
    for model in fitted.values():
        model.fit(data.train_sequences)  # once: the cut changes what they score, not them

    def ci(values: np.ndarray) -> str:
        i = bootstrap_ci(values, args.resamples)
        return f"{i.estimate:.4f} [{i.low:.4f}, {i.high:.4f}]"

    def paired(a: np.ndarray, b: np.ndarray) -> str:
        i = paired_bootstrap(a, b, args.resamples)
        return f"{i.estimate:+.4f} [{i.low:+.4f}, {i.high:+.4f}]"

    lengths: list[int | None] = [*sorted(set(args.lengths)), None]
    n_neg = sampled_negatives(rc.n_negatives, n)
    lines = []
    for k in lengths:
        cut = dataclasses.replace(data, test_histories=cut_histories(data.test_histories, k))
        others = {
            name: rank(name, "baseline", model.score(cut.test_histories), cut, rc)
            for name, model in fitted.items()
        }
        served, sequence, served_neg = [], [], []
        lengths_k = [len(h) for h in cut.test_histories]
        for hybrid in hybrids:
            # One pass of each part; the blend is the served model's own (hybrid.score).
            parts = hybrid.parts(cut.test_histories)
            blended = blend_scores(
                parts["sequence"], parts["ease"], lengths_k, hybrid.cold_items, hybrid.blend
            )
            main_rank = rank("karpa", "model", blended, cut, rc)
            served.append(main_rank.full.per_user()[HEADLINE])
            served_neg.append(main_rank.sampled.per_user()[HEADLINE])
            seq = rank("seq", "model", parts["sequence"], cut, rc)
            sequence.append(seq.full.per_user()[HEADLINE])
        karpa, karpa_neg = mean_over_runs(served), mean_over_runs(served_neg)
        ease = others["ease"].full.per_user()[HEADLINE]
        ease_neg = others["ease"].sampled.per_user()[HEADLINE]

        cells = [
            "all" if k is None else str(k),
            str(len(karpa)),
            ci(karpa),
            f"{mean_over_runs(sequence).mean():.4f}",
            f"{ease.mean():.4f}",
            f"{others['item_knn'].full.per_user()[HEADLINE].mean():.4f}",
            f"{others['popularity'].full.per_user()[HEADLINE].mean():.4f}",
            paired(karpa, ease),
            f"{karpa_neg.mean():.4f}",
            f"{ease_neg.mean():.4f}",
            paired(karpa_neg, ease_neg),
        ]
        lines.append("| " + " | ".join(cells) + " |")
        print(f"# history cut to {cells[0]}: done", file=sys.stderr, flush=True)

    command = "python bench/short_histories.py " + " ".join(sys.argv[1:])
    title = "MovieLens users known by their last k events: karpa against the baselines"
    print(header(title, command))
    print(
        f"# {len(data.test_targets)} test users; {len(hybrids)} saved karpa model(s), each "
        "user's karpa figure their mean; NDCG@10 under full ranking of "
        f"{len(data.catalogue)} items (the cut history excluded) and against {n_neg} sampled "
        f"negatives; 95% bootstrap intervals over users ({args.resamples} resamples), "
        "karpa - EASE paired"
    )
    print(
        "| history (last k items) | users | karpa served | its sequence part | EASE | item-kNN "
        f"| popularity | karpa - EASE | karpa ({n_neg} neg) | EASE ({n_neg} neg) "
        f"| karpa - EASE ({n_neg} neg) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
