"""Bootstrap intervals: nominal coverage on simulations, pairing, reproducibility."""

import numpy as np
import pytest

from karpa.evaluation.bootstrap import (
    bootstrap_ci,
    bootstrap_metric_ci,
    paired_bootstrap,
    paired_bootstrap_metric,
)
from karpa.evaluation.classification import accuracy, macro_f1


def test_percentile_interval_covers_true_accuracy_at_nominal_rate():
    rng = np.random.default_rng(0)
    truth, n, sims = 0.7, 200, 200
    covered = 0
    for sim in range(sims):
        correct = (rng.random(n) < truth).astype(float)
        ci = bootstrap_ci(correct, n_resamples=1000, seed=sim)
        covered += ci.low <= truth <= ci.high
    assert 0.90 <= covered / sims <= 0.99


def test_paired_interval_covers_true_difference_at_nominal_rate():
    rng = np.random.default_rng(1)
    n, sims = 300, 200
    covered = 0
    for sim in range(sims):
        # One latent difficulty per example shared by both models: the challenger is right
        # whenever the champion is, and on 5% more of the examples.
        difficulty = rng.random(n)
        challenger = (difficulty < 0.75).astype(float)
        champion = (difficulty < 0.70).astype(float)
        ci = paired_bootstrap(challenger, champion, n_resamples=1000, seed=sim)
        covered += ci.low <= 0.05 <= ci.high
    assert 0.90 <= covered / sims <= 0.99


def test_paired_is_narrower_than_unpaired():
    rng = np.random.default_rng(2)
    difficulty = rng.random(500)
    a, b = (difficulty < 0.8).astype(float), (difficulty < 0.75).astype(float)
    paired = paired_bootstrap(a, b, seed=0)
    separate = bootstrap_ci(a, seed=0), bootstrap_ci(b, seed=1)
    unpaired_width = sum(ci.high - ci.low for ci in separate)
    assert paired.high - paired.low < unpaired_width / 2
    assert paired.low > 0 and paired.share_not_positive == 0.0


def test_metric_function_path_matches_vectorised_path():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 3, 150)
    y_pred = np.where(rng.random(150) < 0.6, y_true, rng.integers(0, 3, 150))
    vectorised = bootstrap_ci((y_true == y_pred).astype(float), n_resamples=300, seed=5)
    general = bootstrap_metric_ci(accuracy, y_true, y_pred, n_resamples=300, seed=5)
    assert general.estimate == pytest.approx(vectorised.estimate)
    assert general.low == pytest.approx(vectorised.low)
    assert general.high == pytest.approx(vectorised.high)


def test_paired_metric_of_identical_models_is_zero():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 80)
    pred = rng.integers(0, 3, 80)
    ci = paired_bootstrap_metric(macro_f1, (y, pred), (y, pred), n_resamples=200)
    assert ci.estimate == ci.low == ci.high == 0.0
    assert ci.share_not_positive == 1.0


def test_paired_metric_estimate_is_the_difference():
    y = np.array([0, 0, 1, 1, 2, 2])
    better = np.array([0, 0, 1, 1, 2, 1])
    worse = np.array([0, 1, 1, 0, 2, 1])
    ci = paired_bootstrap_metric(macro_f1, (y, better), (y, worse), n_resamples=200, seed=1)
    assert ci.estimate == pytest.approx(macro_f1(y, better) - macro_f1(y, worse))
    assert ci.low <= ci.estimate <= ci.high


def test_same_seed_same_interval():
    values = np.random.default_rng(5).random(100)
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3) != bootstrap_ci(values, seed=4)
    assert bootstrap_ci(values, seed=3).to_dict()["confidence"] == 0.95


def test_bad_inputs():
    with pytest.raises(ValueError):
        bootstrap_ci([])
    with pytest.raises(ValueError):
        paired_bootstrap([1.0, 0.0], [1.0])
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 0.0], confidence=1.5)
