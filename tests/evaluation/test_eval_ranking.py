"""Ranking metrics: hand-computed ranks, the tie rule, exclusion and sampled negatives."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from karpa.evaluation.ranking import (
    evaluate_ranking,
    full_ranks,
    per_user_metrics,
    sample_negatives,
    seen_mask,
)

SCORES = np.array(
    [
        [0.1, 0.5, 0.3, 0.5],  # target 1: nothing higher, item 3 ties -> rank 2
        [0.9, 0.2, 0.2, 0.2],  # target 2: item 0 higher, items 1 and 3 tie -> rank 4
        [0.0, 0.0, 0.0, 0.7],  # target 3: alone at the top -> rank 1
    ]
)
TARGETS = np.array([1, 2, 3])


def test_full_ranks_count_ties_against_the_model():
    assert full_ranks(SCORES, TARGETS).tolist() == [2, 4, 1]


def test_constant_scorer_ranks_target_last():
    assert full_ranks(np.zeros((2, 5)), np.array([0, 4])).tolist() == [5, 5]


def test_metrics_hand_case():
    result = evaluate_ranking(SCORES, TARGETS, ks=(1, 2))
    m = result.metrics
    assert m["hr@1"] == pytest.approx(1 / 3)
    assert m["hr@2"] == pytest.approx(2 / 3)
    assert m["ndcg@1"] == pytest.approx(1 / 3)
    # rank 2 -> 1 / log2(3); rank 4 is outside the top 2; rank 1 -> 1.
    assert m["ndcg@2"] == pytest.approx((1 / math.log2(3) + 0 + 1) / 3)
    assert m["mrr"] == pytest.approx((1 / 2 + 1 / 4 + 1) / 3)


def test_per_user_metrics_values():
    values = per_user_metrics(np.array([1, 3, 11]), ks=(10,))
    assert values["hr@10"].tolist() == [1, 1, 0]
    assert values["ndcg@10"] == pytest.approx([1, 0.5, 0])
    assert values["mrr"] == pytest.approx([1, 1 / 3, 1 / 11])


def test_exclusion_removes_seen_items_but_never_the_target():
    exclude = np.zeros_like(SCORES, dtype=bool)
    exclude[1, 0] = True  # user 1 has seen the item that beat the target
    exclude[0, 1] = True  # the target itself is marked: it must still be ranked
    assert full_ranks(SCORES, TARGETS, exclude).tolist() == [2, 3, 1]
    sparse = sp.csr_matrix(exclude)
    assert full_ranks(SCORES, TARGETS, sparse).tolist() == [2, 3, 1]


@pytest.mark.parametrize("sparse", [False, True])
def test_a_target_in_history_can_count_as_a_miss(sparse):
    """What a model that never recommends history items can do: a repeated target is a
    miss under both protocols, and the protocol says how many users that was."""
    exclude = np.zeros_like(SCORES, dtype=bool)
    exclude[1, 0] = True
    exclude[0, 1] = True  # user 0's target repeats a history item
    mask = sp.csr_matrix(exclude) if sparse else exclude
    kept = evaluate_ranking(SCORES, TARGETS, ks=(2,), exclude=mask)
    missed = evaluate_ranking(SCORES, TARGETS, ks=(2,), exclude=mask, excluded_target="miss")
    assert kept.ranks.tolist() == [2, 3, 1]
    assert missed.ranks.tolist() == [math.inf, 3, 1]
    assert missed.metrics["hr@2"] == pytest.approx(1 / 3)
    assert missed.metrics["mrr"] == pytest.approx((0 + 1 / 3 + 1) / 3)
    assert missed.per_user()["ndcg@2"].tolist()[0] == 0.0
    assert missed.protocol["excluded_target"] == "miss"
    assert missed.protocol["users_target_in_history_missed"] == 1
    assert kept.protocol["users_target_in_history_missed"] == 0
    sampled = evaluate_ranking(
        SCORES, TARGETS, ks=(2,), exclude=mask, n_negatives=1, excluded_target="miss"
    )
    assert math.isinf(sampled.ranks[0]) and sampled.metrics["mrr"] < 1
    with pytest.raises(ValueError, match="excluded_target"):
        evaluate_ranking(SCORES, TARGETS, exclude=mask, excluded_target="drop")


def test_seen_mask_from_histories():
    mask = seen_mask([[0, 2, 2], [], [3]], n_items=4)
    assert mask.toarray().tolist() == [
        [True, False, True, False],
        [False, False, False, False],
        [False, False, False, True],
    ]


def _random_case(n_users=40, n_items=30, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n_users, n_items))
    targets = rng.integers(0, n_items, n_users)
    histories = [rng.choice(n_items, 5, replace=False).tolist() for _ in range(n_users)]
    histories = [[i for i in h if i != t] for h, t in zip(histories, targets, strict=True)]
    return scores, targets, seen_mask(histories, n_items)


def test_sampled_protocol_is_reproducible_by_seed():
    scores, targets, mask = _random_case()
    a = evaluate_ranking(scores, targets, exclude=mask, n_negatives=10, seed=7)
    b = evaluate_ranking(scores, targets, exclude=mask, n_negatives=10, seed=7)
    c = evaluate_ranking(scores, targets, exclude=mask, n_negatives=10, seed=8)
    assert a.metrics == b.metrics
    np.testing.assert_array_equal(a.ranks, b.ranks)
    assert not np.array_equal(a.ranks, c.ranks)
    assert a.protocol["seed"] == 7 and a.protocol["candidates"] == "sampled"
    assert a.ranks.max() <= 11


def test_negatives_avoid_target_and_seen_and_repeat_nothing():
    _, targets, mask = _random_case()
    negatives = sample_negatives(30, targets, 15, seed=1, exclude=mask)
    dense = mask.toarray()
    for user, row in enumerate(negatives):
        assert len(set(row.tolist())) == 15
        assert targets[user] not in row
        assert not dense[user, row].any()
    np.testing.assert_array_equal(negatives, sample_negatives(30, targets, 15, 1, mask))


def test_negatives_are_uniform():
    n_users, n_items = 3000, 6
    targets = np.zeros(n_users, dtype=int)
    negatives = sample_negatives(n_items, targets, 2, seed=0)
    counts = np.bincount(negatives.ravel(), minlength=n_items)
    assert counts[0] == 0
    # Each of the 5 other items is drawn with probability 2/5 per user: 1200 expected.
    assert np.all(np.abs(counts[1:] - 1200) < 100)


def test_all_negatives_equals_full_ranking():
    scores, targets, mask = _random_case()
    n_seen = np.asarray(mask.sum(axis=1)).ravel()
    # Users with the same number of seen items; sample every remaining item.
    users = np.flatnonzero(n_seen == n_seen.max())
    n_neg = 30 - 1 - int(n_seen.max())
    sub = mask[users]
    sampled = evaluate_ranking(scores[users], targets[users], exclude=sub, n_negatives=n_neg)
    full = evaluate_ranking(scores[users], targets[users], exclude=sub)
    np.testing.assert_array_equal(sampled.ranks, full.ranks)


def test_too_many_negatives_is_an_error():
    with pytest.raises(ValueError, match="candidate negatives"):
        sample_negatives(5, np.array([0]), 5, seed=0)


def test_protocol_recorded_for_full_ranking():
    scores, targets, mask = _random_case()
    result = evaluate_ranking(scores, targets, ks=(5, 10), exclude=mask)
    p = result.to_dict()["protocol"]
    assert p["candidates"] == "full" and p["n_negatives"] is None and p["seed"] is None
    assert p["exclude_seen"] is True and p["ks"] == [5, 10] and p["n_items"] == 30
    assert p["mean_candidates"] == pytest.approx(30 - mask.sum() / 40)
    assert "#equal" in p["ties"]
    assert set(result.per_user()) == {"hr@5", "ndcg@5", "hr@10", "ndcg@10", "mrr"}


def test_nan_scores_rejected():
    with pytest.raises(ValueError, match="NaN"):
        full_ranks(np.array([[np.nan, 1.0]]), np.array([0]))


def test_sampled_protocol_refills_from_seen_items_for_long_histories():
    n_items = 12
    scores = np.arange(n_items, dtype=float)[None, :].repeat(2, axis=0)
    targets = np.array([11, 0])
    seen = np.zeros((2, n_items), dtype=bool)
    seen[0, :8] = True  # user 0 has only 3 unseen non-target items for 5 negatives
    result = evaluate_ranking(scores, targets, exclude=seen, n_negatives=5, seed=3)
    assert result.protocol["users_refilled_from_seen"] == 1
    negatives = sample_negatives(n_items, targets, 5, 3, seen, refill_from_excluded=True)
    assert set(range(8, 11)) <= set(negatives[0]) and 11 not in negatives[0]
    assert not seen[1].any() and seen[0, :8].all()  # the caller's mask is not modified
    with pytest.raises(ValueError, match="fewer than n_negatives"):
        sample_negatives(n_items, targets, 5, 3, seen)
