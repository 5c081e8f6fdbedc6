"""Baselines: deterministic, and sensible on small hand-built cases."""

import numpy as np
import pytest

from karpa.evaluation.baselines import (
    EASERecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    TfidfLogisticRegression,
    interaction_matrix,
)
from karpa.evaluation.ranking import evaluate_ranking, seen_mask

TEXTS = [
    "where is my parcel",
    "my parcel has not arrived",
    "track my delivery please",
    "i want my money back",
    "refund my order",
    "please refund the payment",
    "reset my password",
    "cannot log in to my account",
    "forgot password for login",
]
LABELS = ["track"] * 3 + ["refund"] * 3 + ["login"] * 3


def test_tfidf_logreg_is_deterministic_and_sensible():
    a = TfidfLogisticRegression().fit(TEXTS, LABELS)
    b = TfidfLogisticRegression().fit(TEXTS, LABELS)
    queries = ["where is my delivery", "i need a refund", "password reset please"]
    probs = a.predict_proba(queries)
    np.testing.assert_array_equal(probs, b.predict_proba(queries))
    assert probs.shape == (3, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert list(a.classes_) == ["login", "refund", "track"]
    assert a.predict(queries).tolist() == ["track", "refund", "login"]


def test_tfidf_char_analyzer_handles_misspelling():
    model = TfidfLogisticRegression(analyzer="char_wb", ngram_range=(2, 4)).fit(TEXTS, LABELS)
    assert model.predict(["pasword resset"]).tolist() == ["login"]


def test_tfidf_needs_two_classes():
    with pytest.raises(ValueError):
        TfidfLogisticRegression().fit(["a", "b"], ["x", "x"])


def test_interaction_matrix_is_binary():
    m = interaction_matrix([[0, 0, 2], [1]], n_items=3).toarray()
    assert m.tolist() == [[1, 0, 1], [0, 1, 0]]


# Items 0 and 1 always co-occur; item 2 is the most popular but never with 0.
TRAIN = [[0, 1], [0, 1], [0, 1, 3], [2, 3], [2, 4], [2, 3], [2, 4], [2]]


def test_popularity_scores_are_user_counts():
    scores = PopularityRecommender(5).fit(TRAIN).score([[0], [3]])
    assert scores.tolist() == [[3, 3, 5, 3, 2]] * 2


def test_item_knn_recommends_the_co_occurring_item():
    knn = ItemKNNRecommender(5, n_neighbors=None).fit(TRAIN)
    scores = knn.score([[0]])[0]
    scores[0] = -np.inf  # already seen
    assert int(np.argmax(scores)) == 1
    # cosine(0, 1) = 3 / sqrt(3 * 3) = 1; cosine(0, 3) = 1 / sqrt(3 * 3)
    assert scores[1] == pytest.approx(1.0)
    assert scores[3] == pytest.approx(1 / 3)
    assert scores[2] == 0.0


def test_item_knn_keeps_only_top_neighbours():
    knn = ItemKNNRecommender(5, n_neighbors=1).fit(TRAIN)
    assert np.all((knn.similarity > 0).sum(axis=0) <= 1)


def test_item_knn_in_blocks_is_the_whole_matrix_cosine_top_k(monkeypatch):
    import karpa.evaluation.baselines as baselines

    rng = np.random.default_rng(1)
    histories = [rng.choice(30, size=5, replace=False).tolist() for _ in range(60)]
    x = np.zeros((60, 30))
    for row, history in enumerate(histories):
        x[row, history] = 1.0
    co = x.T @ x
    cosine = co / (np.sqrt(np.outer(np.diag(co), np.diag(co))) + 0.5)
    np.fill_diagonal(cosine, 0.0)
    monkeypatch.setattr(baselines, "KNN_BLOCK", 7)  # 30 items: five blocks, the last short
    sim = ItemKNNRecommender(30, n_neighbors=4, shrink=0.5).fit(histories).similarity
    for j in range(30):  # each column keeps its own 4 largest similarities, the rest 0
        kept = np.flatnonzero(sim[:, j])
        assert len(kept) <= 4
        np.testing.assert_allclose(sim[kept, j], cosine[kept, j])
        assert cosine[kept, j].min() >= np.sort(cosine[:, j])[-4] - 1e-12
    with pytest.raises(ValueError, match="shrink must be >= 0"):
        ItemKNNRecommender(30, shrink=-1.0)


def test_ease_recovers_the_co_occurring_item():
    scores = EASERecommender(5, l2=1.0).fit(TRAIN).score([[0]])[0]
    scores[0] = -np.inf
    assert int(np.argmax(scores)) == 1


def test_ease_weights_are_the_closed_form():
    """B_ij = -P_ij / P_jj with P = (X^T X + l2 I)^-1 and a zero diagonal: the in-place
    inverse and scaling give what the textbook formula gives (columns scaled, not rows)."""
    rng = np.random.default_rng(0)
    histories = [rng.choice(12, size=4, replace=False).tolist() for _ in range(40)]
    x = np.zeros((40, 12))
    for row, history in enumerate(histories):
        x[row, history] = 1.0
    p = np.linalg.inv(x.T @ x + 3.0 * np.eye(12))
    expected = -p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    weights = EASERecommender(12, l2=3.0).fit(histories).weights
    np.testing.assert_allclose(weights, expected, rtol=1e-10, atol=1e-12)


def _clustered_world(seed=0, n_users=400, n_clusters=5, per_cluster=12, per_user=6):
    """Users stay inside one item cluster; within a cluster some items are more popular."""
    rng = np.random.default_rng(seed)
    n_items = n_clusters * per_cluster
    within = 1.0 / np.arange(1, per_cluster + 1)
    within /= within.sum()
    histories, targets = [], []
    for _ in range(n_users):
        cluster = rng.integers(n_clusters)
        items = cluster * per_cluster + rng.choice(per_cluster, per_user, replace=False, p=within)
        histories.append(items[:-1].tolist())
        targets.append(int(items[-1]))
    return n_items, histories, np.array(targets)


def test_ease_and_knn_beat_popularity_on_structured_data():
    n_items, histories, targets = _clustered_world()
    mask = seen_mask(histories, n_items)
    results = {}
    for name, model in {
        "pop": PopularityRecommender(n_items),
        "knn": ItemKNNRecommender(n_items),
        "ease": EASERecommender(n_items, l2=50.0),
    }.items():
        scores = model.fit(histories).score(histories)
        results[name] = evaluate_ranking(scores, targets, exclude=mask).metrics["hr@10"]
    assert results["ease"] > results["pop"] + 0.3
    assert results["knn"] > results["pop"] + 0.3


@pytest.mark.parametrize("cls", [PopularityRecommender, ItemKNNRecommender, EASERecommender])
def test_recommenders_are_deterministic(cls):
    n_items, histories, _ = _clustered_world(seed=1, n_users=100)
    a = cls(n_items).fit(histories).score(histories[:20])
    b = cls(n_items).fit(histories).score(histories[:20])
    assert a.shape == (20, n_items)
    np.testing.assert_array_equal(a, b)


def test_unfitted_recommender_raises():
    with pytest.raises(RuntimeError, match="not fitted"):
        EASERecommender(3).score([[0]])
