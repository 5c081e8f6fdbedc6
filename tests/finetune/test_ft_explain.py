"""Explanations of fine-tuned models (karpa_models/explain): token attributions find the
deciding keyword, nearest examples share the class, deletion hurts more along the
attributions than at random, and a recommendation is traced to the history item that
decides it."""

from __future__ import annotations

import numpy as np
import pytest

from karpa_models.explain.deletion import deletion_curves
from karpa_models.explain.neighbours import NeighbourIndex, build_index
from karpa_models.explain.recommend import explain_recommendations, score_parts
from karpa_models.explain.text import explain_texts
from karpa_models.explain.tokens import attribute_tokens, saved_bytes
from karpa_models.finetune.catalogue import ItemCatalogue
from karpa_models.finetune.classifier import train_classifier
from karpa_models.finetune.config import ClassifierConfig, RecommenderConfig
from karpa_models.finetune.hybrid import BlendWeights, HybridRecommender
from karpa_models.finetune.next_item import train_recommender
from karpa_models.finetune.saved import load_classifier, save_classifier
from karpa_models.finetune.scratch import scratch_foundation

# The class words of tests/finetune/conftest.py's keyword_texts.
KEYWORDS = {
    "refund",
    "reimburse",
    "repay",
    "parcel",
    "courier",
    "shipping",
    "password",
    "login",
    "signin",
}


@pytest.fixture(scope="module")
def keyword_model(model_cfg, make_texts):
    """A classifier whose class is decided by one keyword among filler words."""
    train_x, train_y = make_texts(150, seed=0)
    val_x, val_y = make_texts(30, seed=1)
    model, tok = scratch_foundation(model_cfg, train_x * 3, seed=0)
    cfg = ClassifierConfig(
        mode="full", epochs=15, batch_size=16, lr=3e-3, encoder_lr_scale=1.0, patience=30,
        device="cpu",
    )  # fmt: skip
    clf = train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg)
    return clf, train_x, train_y


def test_the_deciding_keyword_gets_the_highest_attribution(keyword_model, make_texts):
    """Attributions are relative to the all-[MASK] baseline; this model reads "no keyword"
    as one class (the baseline's), so texts of that class owe it to no word. Every other
    text owes its class to its keyword, and the attributions say so."""
    clf, _, _ = keyword_model
    texts, labels = make_texts(30, seed=5)
    assert np.mean(clf.predict(texts) == np.asarray(labels)) > 0.9
    attributions = attribute_tokens(clf.model, clf.tokenizer, texts, clf.max_len, n_steps=32)
    baseline_class = clf.predict(["[MASK]"])[0]
    decided = [a for a in attributions if clf.classes[a.target] != baseline_class]
    assert len(decided) >= 15
    for a in decided:
        word, score = a.top_words(1)[0]
        assert word in KEYWORDS and score > 0, a.words()
        # The keyword carries most of what moved the logit away from the baseline.
        assert score > 0.5 * sum(a.scores)
    # Completeness: attributions sum to logit(text) - logit(baseline), up to the delta.
    assert np.mean([abs(a.delta) for a in attributions]) < 0.3


def test_attributions_do_not_depend_on_how_many_steps_one_pass_holds(keyword_model, make_texts):
    clf, _, _ = keyword_model
    texts, _ = make_texts(12, seed=6)
    args = (clf.model, clf.tokenizer, texts, clf.max_len)
    whole = attribute_tokens(*args, n_steps=16, batch_size=4, max_activation_mb=1024)
    chunked = attribute_tokens(*args, n_steps=16, batch_size=4, max_activation_mb=1e-3)
    for a, b in zip(whole, chunked, strict=True):
        assert (a.target, a.tokens) == (b.target, b.tokens)
        assert np.allclose(a.scores, b.scores, atol=1e-5)


def test_a_pass_is_sized_by_what_it_saves_per_sequence(keyword_model):
    import torch

    model = keyword_model[0].model

    def saved(batch: int, length: int) -> int:
        ids = torch.full((batch, length), 7)
        return saved_bytes(model, ids, torch.ones(batch, length, dtype=torch.bool))

    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    assert 0 < saved(1, 8) < weights  # activations only: every weight is saved too
    assert saved(2, 16) == pytest.approx(2 * saved(1, 16), rel=0.01)  # per sequence
    assert 1.8 < saved(1, 24) / saved(1, 12) < 2.5  # about linear in length at these sizes


def test_nearest_examples_share_the_class_and_survive_save_and_load(keyword_model, tmp_path):
    clf, train_x, train_y = keyword_model
    classes = clf.classes
    index = build_index(
        clf.model, clf.tokenizer, train_x, [classes.index(y) for y in train_y], clf.max_len,
        clf.runtime,
    )  # fmt: skip
    clf.neighbours = index
    try:
        explained = explain_texts(clf, ["please my refund today"], index, n_neighbours=3)[0]
        assert explained["label"] == "refund"
        assert [n["label"] for n in explained["nearest"]] == ["refund"] * 3
        assert explained["words"][0]["word"] == "refund"
        sims = [n["similarity"] for n in explained["nearest"]]
        assert sims == sorted(sims, reverse=True) and sims[0] <= 1.0 + 1e-3
        loaded = load_classifier(save_classifier(clf, tmp_path / "model"))
        assert loaded.neighbours is not None and loaded.neighbours.texts == train_x
        np.testing.assert_array_equal(loaded.neighbours.labels, index.labels)
    finally:
        clf.neighbours = None
    old = load_classifier(save_classifier(clf, tmp_path / "old"))
    assert old.neighbours is None and NeighbourIndex.load(tmp_path / "old") is None


def test_deleting_attributed_tokens_lowers_the_probability_more_than_random(
    keyword_model, make_texts
):
    clf, _, _ = keyword_model
    texts, _ = make_texts(24, seed=7)
    attributions = attribute_tokens(clf.model, clf.tokenizer, texts, clf.max_len, n_steps=8)
    curves = deletion_curves(clf.model, clf.tokenizer, attributions, max_k=3, seed=0)
    assert curves.top.shape == curves.random.shape == (24, 4)
    np.testing.assert_allclose(curves.top[:, 0], curves.random[:, 0])  # k = 0: the text
    area = curves.per_example_area()
    assert area.mean() > 0.1, area
    # Removing the keyword alone takes most of the class's probability away.
    assert np.mean(curves.top[:, 1]) < np.mean(curves.top[:, 0]) - 0.3


@pytest.fixture(scope="module", params=["bidirectional", "causal"])
def cycle_recommender(model_cfg, make_sequences, request):
    n = 30
    seqs = make_sequences(120, n, seed=0, cold=set())
    texts = [f"item number {i} colour {['red', 'blue', 'green'][i % 3]}" for i in range(n)]
    catalogue = ItemCatalogue([f"I{i:03d}" for i in range(n)], texts)
    model, tok = scratch_foundation(model_cfg, texts * 4, seed=0)
    val = make_sequences(40, n, seed=1, cold=set())
    from karpa.evaluation.ranking import validation_metrics

    cfg = RecommenderConfig(
        epochs=25, batch_size=32, lr=3e-3, patience=25, device="cpu", attention=request.param
    )
    return train_recommender(
        model, tok, catalogue, seqs, [s[:-1] for s in val], [s[-1] for s in val], cfg,
        val_metrics=validation_metrics,
    )  # fmt: skip


def test_a_recommendation_is_traced_to_the_history_item_that_decides_it(cycle_recommender):
    rec = cycle_recommender
    history = ["I010", "I011", "I012"]  # the walk goes on with I013
    items, _ = rec.recommend(history, k=1)
    assert items[0] == "I013"
    explained = explain_recommendations(rec, history, list(items), top_history=3)[0]
    assert explained["history"][0]["item"] == "I012"
    assert explained["history"][0]["contribution"] > explained["history"][-1]["contribution"]
    # The parts add up to the served score.
    parts = score_parts(rec, rec.to_indices(history))
    np.testing.assert_allclose(sum(parts.values()), rec.score([history])[0], rtol=1e-4, atol=1e-4)
    assert set(explained["parts"]) == {"content", "behaviour", "popularity"}


def test_hybrid_parts_add_up_to_the_blended_score(cycle_recommender):
    rec = cycle_recommender
    n = rec.n_items
    ease = np.roll(np.eye(n, dtype=np.float32), 1, axis=1)  # item i -> item i + 1
    hybrid = HybridRecommender(
        rec, ease, np.full(n, 10), BlendWeights((2,), (0.3, 0.6), cold_below=5)
    )
    history = rec.to_indices(["I004", "I005"])
    parts = score_parts(hybrid, history)
    assert set(parts) == {"content", "behaviour", "popularity", "co-occurrence"}
    np.testing.assert_allclose(sum(parts.values()), hybrid.score([history])[0], atol=1e-4)
    explained = explain_recommendations(hybrid, ["I004", "I005"], ["I006"])[0]
    assert explained["history"][0]["item"] == "I005"
