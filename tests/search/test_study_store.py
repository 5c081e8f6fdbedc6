"""The stored study without training: one name holds one set of objectives and one space,
the samplers and pruners the settings name, trials a killed search left running."""

from __future__ import annotations

import optuna
import pytest

from karpa.config import load_config
from karpa.errors import ConfigError
from karpa.search.pruning import PeerMedianPruner
from karpa.search.space import sample
from karpa.search.study import (
    close_interrupted,
    default_storage,
    finished,
    load_result,
    open_studies,
)


def test_a_study_name_keeps_its_objectives_and_space(tmp_path):
    storage = default_storage(tmp_path)
    open_studies(load_config("demo"), storage)
    with pytest.raises(ConfigError, match=r"was started with objectives \['quality', "):
        open_studies(load_config("demo", ["search.objectives=[quality, params]"]), storage)
    with pytest.raises(ConfigError, match="was started with another search space"):
        open_studies(load_config("demo", ["search.space.layers=[1, 3]"]), storage)
    other = load_config("demo", ["search.study=other", "search.space.layers=[1, 3]"])
    study, _ = open_studies(other, storage)
    assert study.directions == [
        optuna.study.StudyDirection.MAXIMIZE,
        optuna.study.StudyDirection.MINIMIZE,
    ]
    with pytest.raises(ConfigError, match="no such study"):
        load_result(load_config("demo", ["search.study=never"]), storage)


@pytest.mark.parametrize(
    ("sampler", "pruner", "kinds"),
    [
        ("tpe", "median", (optuna.samplers.TPESampler, PeerMedianPruner)),
        (
            "nsga2",
            "halving",
            (optuna.samplers.NSGAIISampler, optuna.pruners.SuccessiveHalvingPruner),
        ),
        ("tpe", "none", (optuna.samplers.TPESampler, optuna.pruners.NopPruner)),
    ],
)
def test_settings_choose_sampler_and_pruner(tmp_path, sampler, pruner, kinds):
    cfg = load_config("demo", [f"search.sampler={sampler}", f"search.pruner={pruner}"])
    study, twin = open_studies(cfg, default_storage(tmp_path))
    assert isinstance(study.sampler, kinds[0]) and isinstance(twin.pruner, kinds[1])
    trial = study.ask()
    assert set(sample(trial, cfg.search.space)) == set(trial.params)


def test_trials_left_running_are_failed_and_not_counted(tmp_path):
    cfg = load_config("demo")
    study, twin = open_studies(cfg, default_storage(tmp_path))
    done = study.ask()
    sample(done, cfg.search.space)
    study.tell(done, [0.5, 3.0])
    left = study.ask()  # as a killed search leaves it
    twin.ask()
    assert close_interrupted(study, twin) == [left.number]
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]
    assert study.trials[1].user_attrs["interrupted"] is True
    assert finished(study) == 1
    assert twin.trials[0].state == optuna.trial.TrialState.FAIL
