"""A few real trials on a tiny demo world: pruning stops lagging trials, the front is the
non-dominated set (as Optuna computes it too), a killed search resumes keeping its
finished trials, and the knee written as a preset loads and trains."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc
import yaml

from karpa.pretraining.corpus import build_corpus
from karpa.search.front import pareto_front
from karpa.search.preset import knee, save_preset
from karpa.search.space import configs_for
from karpa.search.study import PRUNING_SUFFIX, default_storage, finished, run_search
from karpa.search.trial import STEP_STRIDE
from karpa_models.config import load_preset
from karpa_models.pretraining import pretrain

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def searched(search_world, search_cfg, tmp_path_factory):
    _, views = search_world
    root = tmp_path_factory.mktemp("search-home")
    cfg = search_cfg("search.trials=5", "search.study=few")
    seen = []
    result = run_search(cfg, views, root / "work", default_storage(root), on_trial=seen.append)
    return cfg, result, seen


def test_a_few_trials_prune_and_score_on_validation(searched):
    _, result, seen = searched
    states = [r.state for r in result.records]
    assert len(states) == 5 and result.new == [0, 1, 2, 3, 4]
    assert [r.number for r in seen] == result.new  # each reported as it finished
    assert "pruned" in states and "complete" in states, states
    for r in result.records:
        assert r.intermediate, r  # the curves reached the pruner: the pretraining checks
        # first (below the stride), then the fine-tune's validation curve
        assert min(r.intermediate) < STEP_STRIDE, r
        if r.state == "complete":
            assert set(r.values) == {"quality", "latency_p95"}
            assert 0.0 <= r.values["quality"] <= 1.0 and r.values["latency_p95"] > 0
            assert r.details["quality"]["intent"] == r.values["quality"]
            assert r.details["parameters"] > 0
        else:
            assert r.values is None
    # The pruned trials stopped early: fewer curve points than the longest complete one.
    longest = max(len(r.intermediate) for r in result.records if r.state == "complete")
    assert all(len(r.intermediate) < longest for r in result.records if r.state == "pruned")


def test_the_front_is_non_dominated_and_matches_optuna(searched):
    _, result, _ = searched
    front = pareto_front(result.records, result.objectives, result.directions)
    study = optuna.load_study(study_name="few", storage=result.storage)
    assert {r.number for r in front} == {t.number for t in study.best_trials}
    twin = optuna.load_study(study_name="few" + PRUNING_SUFFIX, storage=result.storage)
    assert len(twin.trials) == len(study.trials)


def test_the_knee_saved_as_a_preset_loads_and_trains(searched, search_world, tmp_path):
    cfg, result, _ = searched
    _, views = search_world
    chosen = knee(result.records, result.objectives, result.directions)
    path = save_preset("found", tmp_path, cfg, chosen, "few", "knee", result.storage)
    model_cfg, train_cfg = load_preset(path)
    want_model, want_train = configs_for(chosen.params, *cfg.pretrain.model_configs(cfg.seed))
    assert model_cfg.text == want_model.text and model_cfg.image == want_model.image
    assert train_cfg.lr == pytest.approx(chosen.params["lr"])
    assert train_cfg.steps == want_train.steps  # the preset's own length, not the trial's
    origin = yaml.safe_load(path.read_text())["origin"]
    assert (origin["study"], origin["trial"]) == ("few", chosen.number)
    assert origin["objectives"] == pytest.approx(chosen.values)
    corpus, _ = build_corpus(views, cfg.align.image_size, 200, 0)
    short = dataclasses.replace(train_cfg, steps=2, warmup_steps=1, device="cpu")
    trained = pretrain(corpus, model_cfg, short, tmp_path / "foundation")
    assert trained.steps == 2 and trained.checkpoint_path.is_file()
    assert trained.model_config["text"]["width"] == chosen.params["width"]


CHILD = """
import json, sys, torch
torch.set_num_threads(1)
from pathlib import Path
from karpa.config import load_config
from karpa.search.study import run_search
a = json.loads(sys.argv[1])
cfg = load_config("demo", a["overrides"], data_root=a["data"])
run_search(cfg, Path(a["views"]), Path(a["work"]), a["storage"])
"""


def _trials(storage: str, study: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    except KeyError:
        return []


def test_a_killed_search_resumes_with_its_finished_trials(
    search_world, search_overrides, search_cfg, tmp_path
):
    data, views = search_world
    storage = default_storage(tmp_path)
    extra = ["search.trials=3", "search.study=resume", "search.pruner=none"]
    args = {
        "overrides": [*search_overrides, *extra],
        "data": str(data),
        "views": str(views),
        "work": str(tmp_path / "work"),
        "storage": storage,
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(args)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Kill it while a trial runs with at least one finished. The child is stopped
        # (SIGSTOP) before the trials are read for the decision, so the trial seen running
        # cannot finish before the kill; a trial of the micro world can take less than one
        # poll, so which one is interrupted is whichever was running then.
        deadline = time.monotonic() + 600
        running = None
        while running is None and time.monotonic() < deadline and child.poll() is None:
            if len(_trials(storage, "resume")) >= 2:
                child.send_signal(signal.SIGSTOP)
                try:
                    states = [t.state for t in _trials(storage, "resume")]
                except (sqlalchemy.exc.OperationalError, optuna.exceptions.StorageInternalError):
                    states = []  # stopped inside a commit, with the database locked
                if states and states[-1] == optuna.trial.TrialState.RUNNING:
                    running = len(states) - 1
                    break
                child.send_signal(signal.SIGCONT)
            time.sleep(0.2)
        assert running is not None and child.poll() is None, child.stderr.read()[-3000:]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    before = {t.number: t for t in _trials(storage, "resume")}
    assert all(before[n].state == optuna.trial.TrialState.COMPLETE for n in range(running))
    assert before[running].state == optuna.trial.TrialState.RUNNING

    result = run_search(search_cfg(*extra), views, tmp_path / "work", storage)
    after = {r.number: r for r in result.records}
    for n in range(running):  # the finished trials are kept, not run again
        assert after[n].state == "complete"
        assert list(after[n].values.values()) == pytest.approx(before[n].values)
        assert after[n].params == before[n].params
    assert after[running].state == "failed"  # interrupted by the kill, not counted
    study = optuna.load_study(study_name="resume", storage=storage)
    assert study.trials[running].user_attrs["interrupted"] is True
    assert result.new == list(range(running + 1, 4)) and finished(study) == 3
    assert all(after[n].state == "complete" for n in result.new)
