"""Self-training a linear probe on unlabeled vectors (karpa_models/finetune/self_training.py)
and through train_classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from karpa_models.finetune.classifier import pseudo_labeled, self_training_pool, train_classifier
from karpa_models.finetune.config import ClassifierConfig
from karpa_models.finetune.probe import fit_linear_probe
from karpa_models.finetune.scratch import scratch_foundation
from karpa_models.finetune.self_training import confident_rows, probe_probs, self_train_probe

CENTRES = np.array([[0.0, 0.0], [4.0, 0.0], [2.0, 3.5]], dtype=np.float32)


def _blobs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 3, n)
    return (CENTRES[y] + rng.normal(0, 0.8, (n, 2))).astype(np.float32), y


def _accuracy(t: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(t == p))


def test_self_training_follows_the_unlabeled_clusters_where_the_labels_mislead():
    rng = np.random.default_rng(0)
    x_pool, _ = _blobs(600, rng)
    x_val, y_val = _blobs(150, rng)
    x_test, y_test = _blobs(600, rng)
    # One label per class, each far from its class's centre: the plain probe's boundary
    # between classes 0 and 1 cuts through class 0.
    x_train = np.array([[-2.5, -1.0], [4.2, 0.0], [2.0, 3.8]], dtype=np.float32)
    y_train = np.arange(3)

    def fit(x, y):
        return fit_linear_probe(x, y, x_val, y_val, 3, _accuracy, (1e-4, 1e-2))

    W, b, chosen, history = self_train_probe(fit, x_train, y_train, x_pool, 3, 0.25, False)
    assert [h["round"] for h in history] == [0, 1, 2, 3]
    added = [h["added"] for h in history]  # a quarter of the pool more each round
    assert added[0] == 0 and all(abs(a - 150 * r) <= 3 for r, a in enumerate(added)), added
    assert chosen["val"] == max(h["val"] for h in history) > history[0]["val"] + 0.05
    W0, b0, _ = fit(x_train, y_train)
    plain = _accuracy(y_test, probe_probs(x_test, W0, b0, False).argmax(1))
    trained = _accuracy(y_test, probe_probs(x_test, W, b, False).argmax(1))
    assert trained > plain + 0.05, (plain, trained)


@pytest.mark.parametrize(
    ("vals", "kept"), [((0.5, 0.4, 0.45), 0), ((0.5, 0.7, 0.6), 1), ((0.5, 0.5, 0.5), 0)]
)
def test_the_round_kept_is_the_best_on_validation_and_ties_keep_the_earlier(vals, kept):
    rng = np.random.default_rng(1)
    x_train, y_train = _blobs(30, rng)
    x_pool, _ = _blobs(60, rng)
    fits = []

    def fit(x, y):
        # A distinct head per call, scored on "validation" by the schedule.
        W = torch.full((3, 2), float(len(fits)))
        fits.append((len(x), W))
        return W, torch.zeros(3), {"l2": 0.1, "val": vals[len(fits) - 1]}

    W, _, chosen, history = self_train_probe(fit, x_train, y_train, x_pool, 2, 0.1, True)
    assert len(fits) == 3 and fits[0][0] == 30 and fits[1][0] > 30
    assert chosen["round"] == kept and torch.equal(W, fits[kept][1])
    assert [h["val"] for h in history] == list(vals)


def test_a_given_score_chooses_the_round_instead_of_the_fits_own_figure():
    rng = np.random.default_rng(3)
    x_train, y_train = _blobs(30, rng)
    x_pool, _ = _blobs(60, rng)
    heads = []

    def fit(x, y):
        heads.append(torch.full((3, 2), float(len(heads))))
        return heads[-1], torch.zeros(3), {"l2": 0.1, "val": 0.9 - 0.1 * len(heads)}

    def score(W, b):  # prefers the last round, where the fit's own figure prefers round 0
        return float(W[0, 0])

    W, _, chosen, history = self_train_probe(fit, x_train, y_train, x_pool, 2, 0.1, False, score)
    assert chosen["round"] == 2 and torch.equal(W, heads[2])
    assert [h["score"] for h in history] == [0.0, 1.0, 2.0]
    assert chosen["val"] == pytest.approx(0.6)


def test_no_pool_or_no_rounds_is_the_plain_probe():
    rng = np.random.default_rng(2)
    x_train, y_train = _blobs(30, rng)
    calls = []

    def fit(x, y):
        calls.append(len(x))
        return torch.zeros(3, 2), torch.zeros(3), {"l2": 0.1, "val": 0.5}

    empty = np.zeros((0, 2), dtype=np.float32)
    for pool, rounds in ((empty, 3), (_blobs(20, rng)[0], 0)):
        calls.clear()
        _, _, chosen, history = self_train_probe(fit, x_train, y_train, pool, rounds, 0.1, False)
        assert calls == [30] and chosen["round"] == 0 and len(history) == 1


def test_confident_rows_takes_the_most_probable_share_of_each_predicted_class():
    probs = np.array(
        [
            [0.9, 0.1, 0.0],  # class 0, most confident
            [0.6, 0.4, 0.0],  # class 0
            [0.7, 0.3, 0.0],  # class 0
            [0.2, 0.8, 0.0],  # class 1
            [0.1, 0.2, 0.7],  # class 2
        ]
    )
    # A share is rounded up: every predicted class gives at least one row.
    assert confident_rows(probs, 0.6).tolist() == [0, 2, 3, 4]
    assert confident_rows(probs, 0.3).tolist() == [0, 3, 4]
    assert confident_rows(probs, 1.0).tolist() == [0, 2, 1, 3, 4]
    assert confident_rows(probs, 2.5).tolist() == [0, 2, 1, 3, 4]  # a share above 1 is all


def test_the_pool_is_a_seeded_sample_that_leaves_the_labeled_texts_out():
    unlabeled = [f"text {i}" for i in range(50)] * 2 + [""]
    cfg = ClassifierConfig(mode="linear_probe", self_training_rounds=2, self_training_pool=20)
    pool = self_training_pool(unlabeled, ["text 3", "text 4"], cfg)
    assert len(pool) <= 20 and len(set(pool)) == len(pool) and "" not in pool
    assert not {"text 3", "text 4"} & set(pool)
    # The sample does not depend on what is excluded: two curve points share it.
    other = self_training_pool(unlabeled, ["text 5"], cfg)
    assert set(pool) - {"text 5"} == set(other) - {"text 3", "text 4"}
    assert self_training_pool(unlabeled, [], cfg) == self_training_pool(unlabeled, [], cfg)
    off = ClassifierConfig(mode="linear_probe", self_training_rounds=0)
    assert self_training_pool(unlabeled, [], off) == []


def test_settings_are_checked():
    with pytest.raises(ValueError, match="self_training_rounds must be >= 0"):
        ClassifierConfig(self_training_rounds=-1)
    for share in (0.0, 1.5):
        with pytest.raises(ValueError, match="self_training_share in"):
            ClassifierConfig(self_training_share=share)
    with pytest.raises(ValueError, match="self_training_pool"):
        ClassifierConfig(self_training_pool=-1)


@pytest.mark.parametrize("mode", ["linear_probe", "contrastive_probe"])
def test_a_probe_self_trains_on_the_unlabeled_texts_it_is_given(model_cfg, make_texts, mode):
    train_x, train_y = make_texts(30, seed=0)
    val_x, val_y = make_texts(30, seed=1)
    pool_x, _ = make_texts(60, seed=3)
    model, tok = scratch_foundation(model_cfg, (train_x + pool_x) * 2, seed=0)
    cfg = ClassifierConfig(
        mode=mode,
        device="cpu",
        contrastive_steps=2,
        self_training_rounds=2,
        self_training_share=0.1,
    )
    unlabeled = pool_x + train_x + val_x  # the labeled texts must not be read as unlabeled
    clf = train_classifier(
        model, tok, train_x, train_y, val_x, val_y, cfg, unlabeled_texts=unlabeled
    )
    info = clf.train_info["self_training"]
    assert info["pool"] == len(set(pool_x) - set(train_x) - set(val_x))
    assert [r["round"] for r in info["rounds"]] == [0, 1, 2]
    added = [r["added"] for r in info["rounds"]]
    assert added[0] == 0 and 0 < added[1] < added[2] <= info["pool"]
    best = max(r["val"] for r in info["rounds"])
    assert clf.train_info["best_val_macro_f1"] == best
    kept = info["rounds"][info["round"]]
    assert kept["val"] == best and info["added"] == kept["added"]
    # A score given by the caller reads every validation text's probabilities and keeps
    # the round; a constant one keeps the plain probe (ties keep the earlier round).
    seen = []

    def constant(probs):
        seen.append(probs.shape)
        return 0.5

    kept = train_classifier(
        model,
        tok,
        train_x,
        train_y,
        [*val_x, "an unrelated out of scope message"],
        [*val_y, "oos"],
        cfg,
        unlabeled_texts=unlabeled,
        val_score=constant,
    )
    assert seen == [(31, 3)] * 3 and kept.train_info["self_training"]["round"] == 0
    # Without unlabeled texts (or with rounds 0) the probe is the plain one.
    plain = train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg)
    assert "self_training" not in plain.train_info
    assert plain.train_info["best_val_macro_f1"] == pytest.approx(info["rounds"][0]["val"])


@pytest.fixture
def pooled(model_cfg, make_texts):
    """(foundation, tokenizer, train, val, pool texts): 30 labeled training texts, 30
    validation ones and 60 unlabeled ones."""
    train_x, train_y = make_texts(30, seed=0)
    val_x, val_y = make_texts(30, seed=1)
    pool_x, _ = make_texts(60, seed=3)
    model, tok = scratch_foundation(model_cfg, (train_x + pool_x) * 2, seed=0)
    return model, tok, (train_x, train_y), (val_x, val_y), pool_x


def test_pseudo_labels_are_the_probes_most_confident_pool_texts(pooled):
    model, tok, train, val, pool_x = pooled
    cfg = ClassifierConfig(mode="linear_probe", device="cpu", probe_normalize=True)
    probe = train_classifier(model, tok, *train, *val, cfg)
    pool = list(dict.fromkeys(pool_x))
    texts, labels = pseudo_labeled(probe.model, probe.features, pool, 0.5)
    probs = probe.predict_proba(pool)  # (P, K): the served probe's own probabilities
    top = probs.argmax(1)
    assert np.array_equal(labels, top[[pool.index(t) for t in texts]])
    for c in np.unique(top):
        predicted = np.flatnonzero(top == c)
        kept = [pool.index(t) for t, y in zip(texts, labels, strict=True) if y == c]
        assert len(kept) == int(np.ceil(0.5 * len(predicted)))
        # Nothing left out of class c is more confident than what was kept.
        left = np.setdiff1d(predicted, kept)
        assert not len(left) or probs[left, c].max() <= probs[kept, c].min()
    assert pseudo_labeled(probe.model, probe.features, pool, 0.0)[0] == []
    assert pseudo_labeled(probe.model, probe.features, [], 0.5)[0] == []


def test_probe_full_fine_tunes_on_the_pseudo_labeled_texts_too(pooled):
    model, tok, train, val, pool_x = pooled
    common = {"mode": "probe_full", "epochs": 2, "batch_size": 8, "lr": 3e-3, "device": "cpu"}
    common |= {"probe_normalize": True, "self_training_rounds": 0}  # the plain probe labels
    unlabeled = pool_x + train[0] + val[0]
    plain = train_classifier(
        model, tok, *train, *val, ClassifierConfig(**common), unlabeled_texts=unlabeled
    )
    assert "pseudo_labeled" not in plain.train_info and plain.train_info["n_train"] == 30
    cfg = ClassifierConfig(pseudo_label_share=0.5, **common)
    clf = train_classifier(model, tok, *train, *val, cfg, unlabeled_texts=unlabeled)
    info = clf.train_info
    pool = set(pool_x) - set(train[0]) - set(val[0])
    added = info["pseudo_labeled"]["added"]
    assert 0 < added <= len(pool) and info["pseudo_labeled"]["share"] == 0.5
    # The fine-tune's epochs run over the labeled and the pseudo-labeled texts.
    assert info["n_train"] == 30 + added
    assert info["planned_steps"] > plain.train_info["planned_steps"]
    # Step 0 is the same probe either way: the pseudo-labels do not change what it saw.
    assert info["probe"]["val"] == pytest.approx(plain.train_info["probe"]["val"])
    with pytest.raises(ValueError, match=r"pseudo_label_share must be in \[0, 1\], got 1.5"):
        ClassifierConfig(pseudo_label_share=1.5)
