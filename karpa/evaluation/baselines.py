"""Classic baselines every evaluation runs on the same split as the model.

Text classification: TF-IDF + logistic regression. Recommendation: popularity, item-kNN
(cosine between item columns of the user-item matrix) and EASE (Steck, 2019: a closed-form
item-item linear model). All are deterministic: the same data gives the same scores.

Recommenders are fit on training histories and score any users' histories (lists of item
indices, order ignored), returning a dense (n_users, n_items) score matrix for
`ranking.evaluate_ranking`. They do not mask already-seen items: pass the seen mask to the
evaluation as `exclude`, so every model is held to the same candidate set.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)

Histories = Sequence[Sequence[int]]


class TfidfLogisticRegression:
    """TF-IDF features (sublinear tf, L2-normalised) into multinomial logistic regression.

    analyzer "word" uses word n-grams; "char_wb" character n-grams inside word boundaries,
    which forgives misspellings. lbfgs has no randomness, so fits are reproducible.
    """

    def __init__(
        self,
        c: float = 10.0,
        ngram_range: tuple[int, int] = (1, 2),
        analyzer: str = "word",
        min_df: int = 1,
        max_iter: int = 2000,
    ) -> None:
        self.pipeline = Pipeline(
            [
                (
                    "tfidf",
                    TfidfVectorizer(
                        ngram_range=ngram_range,
                        analyzer=analyzer,
                        min_df=min_df,
                        sublinear_tf=True,
                        lowercase=True,
                    ),
                ),
                ("logreg", LogisticRegression(C=c, max_iter=max_iter)),
            ]
        )

    def fit(self, texts: Sequence[str], labels: Sequence) -> TfidfLogisticRegression:
        """Fit on (n,) texts and (n,) labels (at least two distinct labels)."""
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if len(set(np.asarray(labels).tolist())) < 2:
            raise ValueError("TF-IDF baseline needs at least two classes")
        self.pipeline.fit(list(texts), np.asarray(labels))
        logger.info(
            "TF-IDF baseline: %d texts, %d features, %d classes",
            len(texts),
            len(self.pipeline.named_steps["tfidf"].vocabulary_),
            len(self.classes_),
        )
        return self

    @property
    def classes_(self) -> np.ndarray:
        """(C,) class labels, the column order of `predict_proba`."""
        return self.pipeline.named_steps["logreg"].classes_

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, C) class probabilities, columns ordered as `classes_`."""
        return self.pipeline.predict_proba(list(texts))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """(n,) most probable label per text."""
        return self.pipeline.predict(list(texts))


def interaction_matrix(histories: Histories, n_items: int) -> sp.csr_matrix:
    """Binary (n_users, n_items) float matrix: 1 where the user interacted with the item."""
    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    cols = np.fromiter((i for h in histories for i in h), dtype=np.int64, count=len(rows))
    if cols.size and (cols.min() < 0 or cols.max() >= n_items):
        raise ValueError(f"item index outside [0, {n_items})")
    matrix = sp.csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(len(histories), n_items), dtype=float
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0  # a repeated item counts once
    return matrix


class PopularityRecommender:
    """Scores every item by how many training users interacted with it (same for all)."""

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items
        self.counts: np.ndarray | None = None  # (n_items,)

    def fit(self, histories: Histories) -> PopularityRecommender:
        matrix = interaction_matrix(histories, self.n_items)
        self.counts = np.asarray(matrix.sum(axis=0)).ravel()
        return self

    def score(self, histories: Histories) -> np.ndarray:
        """(n_users, n_items): the popularity vector, repeated per user."""
        counts = _fitted(self.counts, "PopularityRecommender")
        return np.tile(counts, (len(histories), 1))


KNN_BLOCK = 512  # item-kNN picks neighbours for this many target items at a time


class ItemKNNRecommender:
    """Item-based k-nearest neighbours on the binary user-item matrix.

    similarity(i, j) = co-occurrences(i, j) / (sqrt(n_i * n_j) + shrink), the cosine of the
    two item columns (shrink > 0 damps pairs seen together only a few times). Each item keeps
    its `n_neighbors` most similar items (None: all). A user's score for item j is the sum of
    j's similarities to the items in the user's history.
    """

    def __init__(self, n_items: int, n_neighbors: int | None = 100, shrink: float = 0.0) -> None:
        if shrink < 0:
            raise ValueError(f"shrink must be >= 0 (it damps rare pairs), got {shrink}")
        self.n_items = n_items
        self.n_neighbors = n_neighbors
        self.shrink = shrink
        self.similarity: np.ndarray | None = None  # (n_items, n_items), row = history item

    def fit(self, histories: Histories) -> ItemKNNRecommender:
        matrix = interaction_matrix(histories, self.n_items)
        # The co-occurrence counts (n_items, n_items) become the similarities in place, and
        # the neighbours are picked a block of columns at a time: at most two dense square
        # arrays at once (MovieLens' 9,742 items: a peak of ~1.5 GB above the input where
        # the whole-matrix temporaries took ~3.6 GB; the same similarities).
        sim = (matrix.T @ matrix).toarray()
        norms = np.sqrt(np.diag(sim))
        denom = np.outer(norms, norms)
        denom += self.shrink
        # Where denom is 0 an item has no interactions, so its counts are 0 already.
        np.divide(sim, denom, out=sim, where=denom > 0)
        del denom
        np.fill_diagonal(sim, 0.0)  # an item must not recommend itself
        k = self.n_neighbors
        if k is not None and k < self.n_items:
            # For every target item j (a column), keep only its k most similar items.
            for start in range(0, self.n_items, KNN_BLOCK):
                block = sim[:, start : start + KNN_BLOCK]  # a view: written through
                drop = np.argpartition(-block, k, axis=0)[k:]
                np.put_along_axis(block, drop, 0.0, axis=0)
        self.similarity = sim
        return self

    def score(self, histories: Histories) -> np.ndarray:
        """(n_users, n_items) summed similarities of each item to the user's history."""
        sim = _fitted(self.similarity, "ItemKNNRecommender")
        return np.asarray(interaction_matrix(histories, self.n_items) @ sim)


class EASERecommender:
    """EASE: the item-item weights B minimising ||X - XB||^2 + l2 ||B||^2 with diag(B) = 0.

    Closed form: P = (X^T X + l2 I)^-1, B_ij = -P_ij / P_jj, B_jj = 0. Needs a dense
    (n_items, n_items) inverse, fine up to a few tens of thousands of items.
    """

    def __init__(self, n_items: int, l2: float = 500.0) -> None:
        if l2 <= 0:
            raise ValueError(f"l2 must be > 0 for the inverse to exist, got {l2}")
        self.n_items = n_items
        self.l2 = l2
        self.weights: np.ndarray | None = None  # (n_items, n_items)

    def fit(self, histories: Histories) -> EASERecommender:
        matrix = interaction_matrix(histories, self.n_items)
        gram = (matrix.T @ matrix).toarray()
        gram[np.diag_indices_from(gram)] += self.l2
        # One dense (n_items, n_items) array from here on: inverted in place (numpy's inv
        # holds the input, a copy and an identity at once) and scaled in place. On
        # MovieLens' 9,742 items the fit peaked at ~2.9 GB above its input, now ~1.0 GB,
        # with the same test figures.
        weights = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
        weights /= -np.diag(weights).copy()[None, :]  # B_ij = -P_ij / P_jj
        np.fill_diagonal(weights, 0.0)
        self.weights = weights
        return self

    def score(self, histories: Histories) -> np.ndarray:
        """(n_users, n_items) = X_history @ B."""
        weights = _fitted(self.weights, "EASERecommender")
        return np.asarray(interaction_matrix(histories, self.n_items) @ weights)


def _fitted(value: np.ndarray | None, name: str) -> np.ndarray:
    if value is None:
        raise RuntimeError(f"{name} is not fitted: call fit() first")
    return value
