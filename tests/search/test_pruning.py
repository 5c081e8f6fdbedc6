"""The search's pruner judges a trial only among completed trials at most as large."""

import optuna
import pytest

from karpa.search.pruning import SIZE_ATTR, PeerMedianPruner


def _study(n_startup: int = 1) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=PeerMedianPruner(n_startup))
    # Two large trials that learned fast, one small trial that learned slowly.
    for size, curve in ((1_000_000, [0.80, 0.90]), (1_000_000, [0.82, 0.92]), (10_000, [0.4, 0.5])):
        study.add_trial(
            optuna.trial.create_trial(
                value=curve[-1],
                intermediate_values=dict(enumerate(curve)),
                user_attrs={SIZE_ATTR: size},
            )
        )
    return study


def _running(study: optuna.Study, size: int | None, values: list[float]) -> bool:
    trial = study.ask()
    if size is not None:
        trial.set_user_attr(SIZE_ATTR, size)
    for step, value in enumerate(values):
        trial.report(value, step)
    return trial.should_prune()


def test_a_small_trial_is_judged_among_small_ones():
    study = _study()
    # Below the large trials but above the only completed trial at most its size: kept.
    assert not _running(study, 10_000, [0.45])
    # Below it too: pruned.
    assert _running(study, 10_000, [0.30])


def test_a_large_trial_is_judged_against_every_trial_at_most_as_large():
    study = _study()
    # Median of 0.80, 0.82 and 0.40 at step 0 is 0.80.
    assert _running(study, 1_000_000, [0.70])
    assert not _running(study, 1_000_000, [0.81])


def test_smaller_than_every_completed_trial_is_never_pruned():
    assert not _running(_study(), 1_000, [0.0])


def test_without_a_size_every_completed_trial_counts():
    study = _study()
    assert _running(study, None, [0.70])
    assert not _running(study, None, [0.85])


def test_nothing_is_pruned_before_enough_peers_completed():
    study = _study(n_startup=2)
    assert not _running(study, 10_000, [0.0])  # one small peer of the two needed
    assert _running(study, 1_000_000, [0.0])  # three peers


def test_the_best_value_so_far_counts():
    # Step 1's median is 0.90: a dip to 0.10 after 0.95 does not stop the trial, while
    # 0.85 then 0.10 does.
    assert not _running(_study(), 1_000_000, [0.95, 0.10])
    assert _running(_study(), 1_000_000, [0.85, 0.10])


def test_a_negative_startup_is_refused():
    with pytest.raises(ValueError, match="n_startup_trials must be >= 0"):
        PeerMedianPruner(-1)
