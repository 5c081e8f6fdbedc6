"""The Optuna study: stored in a database (the home's SQLite file, or a team's PostgreSQL),
resumed when it exists, several objectives at once, and pruning on the fine-tune
validation curves.

Optuna prunes single-objective trials only (`Trial.report` refuses a multi-objective
study), so each trial has a twin in a companion study `<name>.pruning` in the same storage:
the twin receives the trial's intermediate values and asks the pruner (a median among trials
at most as large, pruning.py, or successive halving) whether to stop; the main study holds
the parameters and the objectives.

A search that was killed leaves its running trial behind: the next run marks it failed
(tagged `interrupted`, not counted) and carries on until the study holds `trials` finished
trials or the time budget is spent. No trial starts after the budget.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from karpa.config import RunConfig
from karpa.config_search import MAXIMISED
from karpa.errors import ConfigError
from karpa.search.objectives import objective_values, parameter_count
from karpa.search.pruning import SIZE_ATTR, PeerMedianPruner
from karpa.search.space import check_space, sample, space_digest
from karpa.search.trial import load_search_data, run_trial, trial_configs
from karpa_models.progress import format_duration

log = logging.getLogger(__name__)

PRUNING_SUFFIX = ".pruning"
STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running"}


@dataclass
class TrialRecord:
    """One trial as the front, MLflow and the preset read it."""

    number: int
    state: str  # complete | pruned | failed | running
    params: dict[str, Any]
    values: dict[str, float] | None  # objective -> value (complete trials)
    intermediate: dict[int, float] = field(default_factory=dict)  # step -> val metric
    seconds: float | None = None
    details: dict[str, Any] = field(default_factory=dict)  # per-application figures
    error: str | None = None


@dataclass
class SearchResult:
    study: str
    storage: str
    objectives: list[str]
    directions: list[str]
    records: list[TrialRecord]
    new: list[int]  # trial numbers run by this call
    stopped_by: str  # "trials" (the study holds enough) | "budget"


def default_storage(root: Path) -> str:
    """A SQLite file in the home: `<home>/search/optuna.db`."""
    folder = Path(root) / "search"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'optuna.db'}"


def _sampler(cfg: RunConfig, already: int) -> optuna.samplers.BaseSampler:
    # A resumed study draws with another seed: the same one would repeat the first
    # random trials of the earlier run.
    seed = cfg.seed + already
    trials = cfg.search.trials
    if cfg.search.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(
            seed=seed, population_size=max(4, min(50, trials // 3))
        )
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(3, trials // 3)))


def _pruner(cfg: RunConfig) -> optuna.pruners.BasePruner:
    s = cfg.search
    if s.pruner == "median":
        return PeerMedianPruner(n_startup_trials=s.prune_startup_trials)
    if s.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_studies(cfg: RunConfig, storage: str) -> tuple[optuna.Study, optuna.Study]:
    """(the study, its pruning twin), created or loaded. A study loaded under the same name
    must have the same objectives and search space, or the run is refused."""
    s = cfg.search
    storage_obj = optuna.storages.RDBStorage(storage)
    names = {
        st.study_name: st
        for st in optuna.get_all_study_summaries(storage_obj, include_best_trial=False)
    }
    if s.study in names:
        attrs = names[s.study].user_attrs
        if attrs.get("karpa.objectives") != list(s.objectives):
            raise ConfigError(
                f"search.study {s.study!r} was started with objectives "
                f"{attrs.get('karpa.objectives')}, not {list(s.objectives)}: give this search "
                "another study name (search.study=NAME)"
            )
        if attrs.get("karpa.space") != space_digest(s.space):
            raise ConfigError(
                f"search.study {s.study!r} was started with another search space: give this "
                "search another study name (search.study=NAME)"
            )
    already = names[s.study].n_trials if s.study in names else 0
    study = optuna.create_study(
        study_name=s.study,
        storage=storage_obj,
        directions=s.directions(),
        sampler=_sampler(cfg, already),
        load_if_exists=True,
    )
    twin = optuna.create_study(
        study_name=s.study + PRUNING_SUFFIX,
        storage=storage_obj,
        direction="maximize",
        pruner=_pruner(cfg),
        load_if_exists=True,
    )
    study.set_user_attr("karpa.objectives", list(s.objectives))
    study.set_user_attr("karpa.space", space_digest(s.space))
    study.set_user_attr("karpa.applications", list(s.applications))
    study.set_user_attr("karpa.preset", cfg.pretrain.preset)
    return study, twin


def close_interrupted(study: optuna.Study, twin: optuna.Study) -> list[int]:
    """Mark failed the trials a killed search left running; -> their numbers."""
    closed = []
    for one in (study, twin):
        for t in one.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            optuna.Trial(one, t._trial_id).set_user_attr("interrupted", True)
            one.tell(t.number, state=optuna.trial.TrialState.FAIL)
            if one is study:
                closed.append(t.number)
    if closed:
        log.warning("search: trials %s were interrupted by a stopped search; marked failed", closed)
    return closed


def finished(study: optuna.Study) -> int:
    """Trials that count towards `trials`: complete, pruned, or failed on their own."""
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state.is_finished() and not t.user_attrs.get("interrupted")
    )


def records(study: optuna.Study, objectives: list[str]) -> list[TrialRecord]:
    out = []
    for t in study.get_trials(deepcopy=False):
        seconds = None
        if t.datetime_start and t.datetime_complete:
            seconds = (t.datetime_complete - t.datetime_start).total_seconds()
        values = None
        if t.state == optuna.trial.TrialState.COMPLETE and t.values is not None:
            values = dict(zip(objectives, t.values, strict=True))
        out.append(
            TrialRecord(
                number=t.number,
                state=STATES.get(t.state.name, t.state.name.lower()),
                params=dict(t.params),
                values=values,
                intermediate={int(k): float(v) for k, v in t.user_attrs.get("curve", {}).items()},
                seconds=seconds,
                details=dict(t.user_attrs.get("details", {})),
                error=t.user_attrs.get("error"),
            )
        )
    return out


OnTrial = Callable[[TrialRecord], None]


def run_search(
    cfg: RunConfig,
    views_dir: Path,
    workdir: Path,
    storage: str,
    on_trial: OnTrial | None = None,
) -> SearchResult:
    """Run (or resume) the study until it holds `search.trials` finished trials or the
    budget is spent; on_trial gets each trial this call runs, as it finishes."""
    s = cfg.search
    check_space(cfg)
    started = time.monotonic()
    study, twin = open_studies(cfg, storage)
    close_interrupted(study, twin)
    new: list[int] = []
    stopped_by = "trials"
    if finished(study) < s.trials:
        data = load_search_data(views_dir, cfg)
        while finished(study) < s.trials:
            elapsed = time.monotonic() - started
            if elapsed >= s.budget_minutes * 60.0:
                stopped_by = "budget"
                break
            number = _one_trial(cfg, study, twin, data, Path(workdir))
            new.append(number)
            record = next(r for r in records(study, s.objectives) if r.number == number)
            log.info(
                "search: trial %d %s in %s (%d of %d finished, %s of %s budget used)%s",
                number,
                record.state,
                format_duration(record.seconds or 0.0),
                finished(study),
                s.trials,
                format_duration(time.monotonic() - started),
                format_duration(s.budget_minutes * 60.0),
                f": {record.values}" if record.values else "",
            )
            if on_trial is not None:
                on_trial(record)
    return SearchResult(
        study=s.study,
        storage=storage,
        objectives=list(s.objectives),
        directions=s.directions(),
        records=records(study, s.objectives),
        new=new,
        stopped_by=stopped_by,
    )


def foundation_size(params: dict[str, Any], cfg: RunConfig) -> int:
    """Parameters of a trial's foundation, from its architecture alone (no training)."""
    from karpa_models.model import FoundationModel

    model_cfg, _ = trial_configs(params, cfg, cfg.search.pretrain_steps)
    return parameter_count(FoundationModel(model_cfg, load_pretrained=False))


def _one_trial(
    cfg: RunConfig, study: optuna.Study, twin: optuna.Study, data: Any, workdir: Path
) -> int:
    """Ask, run, tell; -> the trial's number."""
    trial = study.ask()
    shadow = twin.ask()
    trial.set_user_attr("pruning_trial", shadow.number)
    params = sample(trial, cfg.search.space)
    if any(o not in MAXIMISED for o in cfg.search.objectives):  # a cost is an objective
        # The pruner judges a trial among trials at most this large (pruning.py).
        shadow.set_user_attr(SIZE_ATTR, foundation_size(params, cfg))
    curve: dict[str, float] = {}

    def on_value(value: float, step: int) -> None:
        curve[str(step)] = value
        shadow.report(value, step)
        if shadow.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step} (validation {value:.4f})")

    try:
        outcome = run_trial(data, params, cfg, workdir / f"trial-{trial.number}", on_value)
    except optuna.TrialPruned:
        trial.set_user_attr("curve", curve)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        twin.tell(shadow, state=optuna.trial.TrialState.PRUNED)
        return trial.number
    except Exception as exc:  # one bad point of the space must not end the search
        log.exception("search: trial %d failed", trial.number)
        trial.set_user_attr("curve", curve)
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:2000])
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        twin.tell(shadow, state=optuna.trial.TrialState.FAIL)
        return trial.number
    except BaseException:
        # Ctrl-C or SIGTERM: the trial did not fail on its own; the next run closes it.
        trial.set_user_attr("curve", curve)
        raise
    values = objective_values(
        cfg.search.objectives, outcome.quality, outcome.latency, outcome.params
    )
    trial.set_user_attr("curve", curve)
    trial.set_user_attr(
        "details",
        {
            "quality": outcome.quality,
            "metrics": outcome.metrics,
            "latency_ms": outcome.latency,
            "parameters": outcome.params,
            "seconds": outcome.seconds,
        },
    )
    study.tell(trial, values)
    twin.tell(shadow, sum(outcome.quality.values()) / len(outcome.quality))
    return trial.number


def load_result(cfg: RunConfig, storage: str) -> SearchResult:
    """The stored study as it stands, without running a trial (`--pick`)."""
    s = cfg.search
    try:
        study = optuna.load_study(study_name=s.study, storage=storage)
    except KeyError:
        raise ConfigError(
            f"search.study {s.study!r}: no such study in the home's search database; "
            "run `karpa search` first"
        ) from None
    objectives = list(study.user_attrs.get("karpa.objectives", s.objectives))
    directions = ["maximize" if d.name == "MAXIMIZE" else "minimize" for d in study.directions]
    return SearchResult(
        study=s.study,
        storage=storage,
        objectives=objectives,
        directions=directions,
        records=records(study, objectives),
        new=[],
        stopped_by="trials",
    )
