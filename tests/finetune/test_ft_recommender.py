"""Next-item fine-tuning: batches, learning a sequential pattern, cold items, sampled loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from karpa.evaluation.baselines import PopularityRecommender
from karpa.evaluation.ranking import evaluate_ranking, seen_mask, validation_metrics
from karpa_models.finetune.catalogue import ItemCatalogue
from karpa_models.finetune.config import RecommenderConfig
from karpa_models.finetune.next_item import train_recommender
from karpa_models.finetune.sequences import (
    IGNORE,
    draw_cuts,
    history_batch,
    length_grouped,
    next_item_batch,
)

N_ITEMS = 30
COLD = {7, 19}


def test_history_batch_appends_mask_after_the_last_item():
    items, mask, query = history_batch([[1, 2, 3], [], [4]], max_len=3, n_items=10)
    assert items.tolist() == [[2, 3, 11], [11, 10, 10], [4, 11, 10]]
    assert mask.tolist() == [[True] * 3, [True, False, False], [True, True, False]]
    assert query.tolist() == [2, 0, 1]


def test_next_item_batch_labels_the_item_after_the_cut():
    rng = np.random.default_rng(0)
    seqs = [np.arange(8), np.array([5, 6])]
    cuts = draw_cuts(seqs, rng)
    assert 1 <= cuts[0] <= 7 and cuts[1] == 1
    items, mask, labels = next_item_batch(seqs, cuts, 4, 10, cloze_prob=0.0, rng=rng)
    for row in range(2):
        q = int(np.flatnonzero(items[row] == 11)[0])
        before = items[row, q - 1]
        assert labels[row, q] == before + 1  # consecutive sequences: the next index
        assert (labels[row] != IGNORE).sum() == 1 and mask[row, : q + 1].all()
    with pytest.raises(ValueError, match="two items"):
        draw_cuts([np.array([1])], rng)


def test_length_grouped_batches_cover_every_row_once_with_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, 500)
    batches = length_grouped(lengths, 10, rng, group=5)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(500))
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    random_spread = np.mean([np.ptp(lengths[b]) for b in np.array_split(np.arange(500), 50)])
    assert spread < random_spread / 3


@pytest.fixture
def world(make_item_world):
    return make_item_world(N_ITEMS, COLD)


def test_learns_a_sequential_pattern_that_popularity_cannot(world):
    catalogue, model, tok, seqs, val_hist, val_tgt = world
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = RecommenderConfig(epochs=25, batch_size=32, lr=3e-3, patience=25, device="cpu")
    rec = train_recommender(
        model, tok, catalogue, seqs, val_hist, val_tgt, cfg, val_metrics=validation_metrics
    )
    exclude = seen_mask(val_hist, N_ITEMS)
    ours = evaluate_ranking(rec.score(val_hist), val_tgt, exclude=exclude).metrics
    pop = PopularityRecommender(N_ITEMS).fit(seqs)
    base = evaluate_ranking(pop.score(val_hist), val_tgt, exclude=exclude).metrics
    assert ours["ndcg@10"] > base["ndcg@10"] + 0.2, (ours, base)
    assert ours["hr@10"] > 0.8
    assert rec.train_info["warm_items"] == N_ITEMS - len(COLD)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    # Cold items have no id part but still score finitely (by their content).
    scores = rec.score([[1, 2, 3]])
    assert scores.shape == (1, N_ITEMS) and np.isfinite(scores).all()
    ids, top = rec.recommend(["I001", "I002", "I003"], k=5)
    assert len(ids) == 5 and np.all(np.diff(top) <= 0)
    assert not {"I001", "I002", "I003"} & set(ids)
    assert rec.recommend([1, 2, 3], k=5)[0][0] == ids[0]  # indices and ids agree


def test_sampled_softmax_trains(world):
    catalogue, model, tok, seqs, val_hist, val_tgt = world
    cfg = RecommenderConfig(
        epochs=2, batch_size=32, loss="sampled_softmax", n_sampled=8, device="cpu"
    )
    rec = train_recommender(
        model, tok, catalogue, seqs, val_hist, val_tgt, cfg, val_metrics=validation_metrics
    )
    assert rec.train_info["steps"] == 8
    assert np.isfinite(rec.score(val_hist[:3])).all()


def test_a_catalogue_of_the_wrong_size_is_refused(world):
    catalogue, model, tok, seqs, val_hist, val_tgt = world
    small = ItemCatalogue(catalogue.item_ids[:5], catalogue.texts[:5])
    with pytest.raises(ValueError, match="catalogue has 5 items"):
        train_recommender(
            model,
            tok,
            small,
            seqs,
            val_hist,
            val_tgt,
            RecommenderConfig(),
            val_metrics=validation_metrics,
        )
