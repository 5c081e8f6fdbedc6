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
from karpa_models.finetune.recommender import build_recommender
from karpa_models.finetune.sequences import (
    IGNORE,
    causal_batch,
    draw_cuts,
    draw_window_ends,
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


def test_causal_history_batch_starts_with_mask_and_queries_the_last_item():
    items, mask, query = history_batch([[1, 2, 3], [], [4]], max_len=3, n_items=10, causal=True)
    assert items.tolist() == [[11, 2, 3], [11, 10, 10], [11, 4, 10]]
    assert mask.tolist() == [[True] * 3, [True, False, False], [True, True, False]]
    assert query.tolist() == [2, 0, 1]


def test_causal_batch_labels_every_position_with_the_item_that_follows():
    rng = np.random.default_rng(0)
    seqs = [np.arange(20, 30), np.array([5, 6, 7])]
    ends = draw_window_ends(seqs, max_len=4, rng=rng)
    assert 3 <= ends[0] <= 9 and ends[1] == 2  # full windows; a short sequence whole
    items, mask, labels = causal_batch(seqs, np.array([6, 2]), max_len=4, n_items=40)
    # The first ends at its item 6 (26): MASK then the three items before it, each
    # position labelled with the next; position 0 saw nothing of a window that does not
    # start the sequence, so it asks for nothing. The second is whole, padded.
    assert items.tolist() == [[41, 23, 24, 25], [41, 5, 6, 40]]
    assert labels.tolist() == [[IGNORE, 24, 25, 26], [5, 6, 7, IGNORE]]
    assert mask.tolist() == [[True] * 4, [True, True, True, False]]
    # Ends over many draws cover every full-window end of a long sequence.
    ends = np.concatenate([draw_window_ends(seqs[:1], 4, rng) for _ in range(200)])
    assert set(ends.tolist()) == set(range(3, 10))
    with pytest.raises(ValueError, match="two items"):
        draw_window_ends([np.array([1])], 4, rng)


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


def test_causal_attention_keeps_each_position_blind_to_later_items(world):
    model = world[1]
    content = torch.randn(N_ITEMS, model.behaviour.content.shape[1])
    warm = np.ones(N_ITEMS, dtype=bool)
    a = torch.tensor([[N_ITEMS + 1, 3, 4, 5, 6]])
    b = torch.tensor([[N_ITEMS + 1, 3, 4, 9, 1]])
    mask = torch.ones_like(a, dtype=torch.bool)
    outputs = {}
    for causal in (True, False):
        rec = build_recommender(model.behaviour, content, warm, causal=causal).eval()
        with torch.no_grad():
            outputs[causal] = (rec(a, mask), rec(b, mask))  # (1, 5, C) each
    ha, hb = outputs[True]
    torch.testing.assert_close(ha[:, :3], hb[:, :3])  # positions 0-2 never see 3-4
    assert not torch.allclose(ha[:, 3:], hb[:, 3:])
    ha, hb = outputs[False]
    assert not torch.allclose(ha[:, :3], hb[:, :3])  # bidirectional: everything sees all


def test_id_dropout_scores_a_share_of_warm_items_by_content_in_training_only(world):
    model = world[1]
    content = torch.randn(N_ITEMS, model.behaviour.content.shape[1])
    warm = np.ones(N_ITEMS, dtype=bool)
    warm[sorted(COLD)] = False
    rec = build_recommender(model.behaviour, content, warm, id_dropout=0.5).train()
    torch.manual_seed(0)
    draws = torch.stack([rec.known_ids() for _ in range(400)]).float()  # (400, n)
    assert draws[:, sorted(COLD)].sum() == 0  # a cold item never gains an id part
    assert 0.45 < float(draws[:, warm].mean()) < 0.55
    known = rec.known_ids()
    dropped = torch.from_numpy(warm) & ~known
    assert dropped.any()
    with torch.no_grad():
        # A dropped item is scored as a cold one: its content alone, the warm mean bias.
        table = rec.item_table(known)[:N_ITEMS]
        by_content = rec.behaviour.content_proj(rec.behaviour.content)
        torch.testing.assert_close(table[dropped], by_content[dropped])
        bias = rec.item_bias(known)
        warm_mean = rec.head.bias[torch.from_numpy(warm)].mean()
        torch.testing.assert_close(bias[dropped], warm_mean.expand(int(dropped.sum())))
        torch.testing.assert_close(bias[known], rec.head.bias[known])
    assert torch.equal(rec.eval().known_ids(), rec.warm)  # serving: every warm item whole
    with pytest.raises(ValueError, match="id_dropout"):
        RecommenderConfig(id_dropout=1.0)


@pytest.mark.parametrize(
    ("attention", "id_dropout"), [("bidirectional", 0.0), ("causal", 0.0), ("causal", 0.3)]
)
def test_learns_a_sequential_pattern_that_popularity_cannot(world, attention, id_dropout):
    catalogue, model, tok, seqs, val_hist, val_tgt = world
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = RecommenderConfig(
        epochs=25,
        batch_size=32,
        lr=3e-3,
        patience=25,
        device="cpu",
        attention=attention,
        id_dropout=id_dropout,
    )
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
