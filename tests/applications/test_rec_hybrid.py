"""The hybrid's blend: z-scored parts, weights by history length, chosen on validation only."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from karpa.applications.rec_config import RecommendationConfig
from karpa.applications.rec_hybrid import choose_blend, validation_split
from karpa.applications.recommendation import hybrid_model
from karpa_models.finetune.hybrid import BlendWeights, blend_scores, top_k, zscore_rows

N = 20  # items


class _Shifted:
    """A scorer that puts item (last history item + shift) % N first: a stand-in for the
    sequence model (`score`) and for EASE (`score` and `weights`)."""

    def __init__(self, shift: int):
        self.shift = shift
        self.weights = np.roll(np.eye(N), shift, axis=1)  # row h -> column (h + shift) % N
        self.item_ids = [f"I{i:02d}" for i in range(N)]
        self.n_items = N
        self.train_info = {}

    def score(self, histories):
        out = np.zeros((len(histories), N), np.float32)
        for row, h in enumerate(histories):
            out[row, (h[-1] + self.shift) % N] = 1.0
            out[row] += np.linspace(0, 0.1, N, dtype=np.float32)  # no ties elsewhere
        return out

    def to_indices(self, history):
        return [int(i) for i in history]


def test_zscore_and_blend_weights_by_history_length():
    z = zscore_rows(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(z[0], [-1.2247449, 0.0, 1.2247449], atol=1e-6)
    assert (z[1] == 0).all()  # a constant row carries no evidence
    blend = BlendWeights((4,), (1.0, 0.0))
    seq, ease = np.array([[0.0, 1.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 0.0]])
    out = blend_scores(seq, ease, [3, 9], np.zeros(2, bool), blend)
    assert out[0].argmax() == 1 and out[1].argmax() == 0  # short: sequence; long: EASE
    cold = blend_scores(
        seq,
        ease,
        [9, 9],
        np.array([False, True]),
        BlendWeights((4,), (1.0, 0.0), cold_rule="sequence"),
    )
    assert cold[0, 1] == pytest.approx(1.0)  # the cold item keeps its z(sequence)
    with pytest.raises(ValueError, match="one more weight"):
        BlendWeights((4,), (0.5,))


def test_top_k_excludes_history_and_breaks_ties_by_index():
    scores = np.array([0.5, 0.9, 0.5, 0.9, 0.1])
    assert top_k(scores, 3, exclude=[1]).tolist() == [3, 0, 2]


def test_each_bucket_takes_its_best_weight_on_validation():
    rng = np.random.default_rng(0)
    lengths = [2] * 150 + [30] * 150
    histories = [list(rng.integers(0, N, size=n)) for n in lengths]
    targets = np.array([(h[-1] + (1 if len(h) < 5 else 3)) % N for h in histories])
    seq, ease = _Shifted(1).score(histories), _Shifted(3).score(histories)
    choice = choose_blend(
        seq,
        ease,
        histories,
        targets,
        np.full(N, 10),
        grid=(0.0, 0.5, 1.0),
        history_edges=(4,),
        cold_below=5,
        min_users=50,
    )
    assert choice.blend.weights == (1.0, 0.0)  # short: the sequence part; long: EASE
    assert choice.validation > 0.5  # every target not repeating a history item is first


def test_the_blend_is_chosen_on_validation_even_where_test_disagrees():
    """Validation says EASE, test would say the sequence model: the hybrid keeps EASE, and
    never reads the test users."""
    rng = np.random.default_rng(1)
    val_hist = [list(rng.integers(0, N, size=6)) for _ in range(300)]
    data = SimpleNamespace(
        val_histories=val_hist,
        val_targets=np.array([(h[-1] + 3) % N for h in val_hist]),  # EASE's pick
        item_counts=np.full(N, 10),
        test_histories=None,  # reading them would fail
        test_targets=None,
    )
    cfg = RecommendationConfig(blend_grid=(0.0, 0.5, 1.0), blend_min_users=50)
    hybrid, choice = hybrid_model(_Shifted(1), _Shifted(3), data, cfg, np.arange(300))
    assert set(hybrid.blend.weights) == {0.0} and choice.validation > 0.5
    test_hist = [[*h, int(t)] for h, t in zip(val_hist, data.val_targets, strict=True)]
    test_targets = np.array([(h[-1] + 1) % N for h in test_hist])  # the sequence's pick
    served = hybrid.score(test_hist)
    np.testing.assert_allclose(served, zscore_rows(hybrid.ease_scores(test_hist)))  # EASE alone
    sequence_only = hybrid.sequence.score(test_hist)
    assert (sequence_only.argmax(axis=1) == test_targets).all()  # what test would have chosen


def test_a_bucket_gain_within_noise_keeps_the_overall_weight():
    """Short histories here prefer the sequence part on only a handful of their users: the
    gain is within two standard errors, so the bucket keeps the overall weight (EASE)."""
    rng = np.random.default_rng(2)
    lengths = [2] * 200 + [30] * 400
    histories = [list(rng.integers(0, N, size=n)) for n in lengths]
    targets = np.array([(h[-1] + 3) % N for h in histories])  # EASE's pick for everyone
    targets[:6] = [(h[-1] + 1) % N for h in histories[:6]]  # 6 short users: the sequence's
    seq, ease = _Shifted(1).score(histories), _Shifted(3).score(histories)
    choice = choose_blend(
        seq,
        ease,
        histories,
        targets,
        np.full(N, 10),
        grid=(0.0, 1.0),
        history_edges=(4,),
        cold_below=5,
        min_users=50,
    )
    assert choice.blend.weights == (0.0, 0.0)


def test_early_stopping_and_the_blend_read_disjoint_validation_users():
    cfg = RecommendationConfig(blend_share=0.5, max_val_users=500)
    stop, blend = validation_split(1989, cfg)
    assert len(blend) == 994 and len(stop) == 500  # round(0.5 * 1989); the rest, capped
    assert not set(stop) & set(blend) and set(stop) | set(blend) <= set(range(1989))
    assert list(stop) == sorted(stop) and list(blend) == sorted(blend)
    again = validation_split(1989, cfg)
    assert all(np.array_equal(a, b) for a, b in zip(again, (stop, blend), strict=True))
    stop, blend = validation_split(610, cfg)  # MovieLens: half each
    assert (len(stop), len(blend)) == (305, 305)
    stop, blend = validation_split(610, replace(cfg, hybrid=False))  # no blend to choose
    assert len(blend) == 0 and len(stop) == 500
    for n in (1, 2, 3):  # tiny worlds: neither part is ever left without a user
        stop, blend = validation_split(n, replace(cfg, blend_share=0.1))
        assert len(stop) >= 1 and len(blend) >= 1
    with pytest.raises(ValueError, match="blend_share must be within"):
        RecommendationConfig(blend_share=1.0)


def test_the_blend_reads_only_its_own_validation_users():
    """The users early stopping read (here: all favour the sequence model) do not sway
    the blend, which is chosen on the other rows (all favour EASE)."""
    rng = np.random.default_rng(3)
    val_hist = [list(rng.integers(0, N, size=6)) for _ in range(400)]
    targets = np.array([(h[-1] + 1) % N for h in val_hist])  # the sequence's pick ...
    blend_rows = np.arange(200, 400)
    targets[blend_rows] = [(val_hist[i][-1] + 3) % N for i in blend_rows]  # ... EASE's here
    data = SimpleNamespace(val_histories=val_hist, val_targets=targets, item_counts=np.full(N, 10))
    cfg = RecommendationConfig(blend_grid=(0.0, 1.0), blend_min_users=50)
    hybrid, choice = hybrid_model(_Shifted(1), _Shifted(3), data, cfg, blend_rows)
    assert set(hybrid.blend.weights) == {0.0} and choice.users == 200
    hybrid, _ = hybrid_model(_Shifted(1), _Shifted(3), data, cfg, np.arange(200))
    assert set(hybrid.blend.weights) == {1.0}
