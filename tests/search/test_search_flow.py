"""The `karpa-search` flow and its form: bad values refused before any trial starts; a
search of a few trials recorded in MLflow (one nested run per trial) and in Prefect (the
front as a markdown artifact)."""

from __future__ import annotations

import asyncio

import optuna
import pytest
from mlflow.tracking import MlflowClient
from prefect.exceptions import ParameterTypeError
from prefect.utilities.callables import parameter_schema
from pydantic import ValidationError

from flows.search import SearchParams, architecture_search
from karpa.config import CONFIGS
from karpa.config_search import OBJECTIVES
from karpa.errors import ConfigError
from tasks.search import FRONT_KEY

DEMO = str(CONFIGS / "demo.yaml")


def test_form_has_choices_bounds_and_descriptions():
    props = parameter_schema(architecture_search).model_dump()["properties"]
    assert set(props) == set(SearchParams.model_fields)
    assert all(p.get("description") for p in props.values())
    trials = next(a for a in props["trials"]["anyOf"] if a.get("type") == "integer")
    assert (trials["minimum"], trials["maximum"]) == (1, 10_000)
    budget = next(a for a in props["budget_minutes"]["anyOf"] if a.get("type") == "number")
    assert budget["exclusiveMinimum"] == 0.0
    objectives = next(a for a in props["objectives"]["anyOf"] if a.get("type") == "array")
    assert objectives["items"]["enum"] == list(OBJECTIVES) and objectives["minItems"] == 1
    apps = next(a for a in props["applications"]["anyOf"] if a.get("type") == "array")
    assert apps["items"]["enum"] == ["intent", "sentiment", "recommendation"]


@pytest.mark.parametrize(
    "bad",
    [
        {"trials": 0},
        {"trials": 20_000},
        {"budget_minutes": 0},
        {"objectives": ["latency_p99"]},
        {"objectives": []},
        {"applications": ["translation"]},
        {"applications": []},
        {"objectives": ["sentiment"], "applications": ["intent"]},
        {"overrides": ["search.space.width=[]"]},
        {"unknown": 1},
    ],
)
def test_bad_values_are_refused_by_the_form(bad):
    with pytest.raises(ValidationError):
        SearchParams(**bad)


def _studies(home) -> list[str]:
    db = home.root / "search" / "optuna.db"
    if not db.exists():
        return []
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    return [s.study_name for s in optuna.get_all_study_summaries(storage, False)]


@pytest.mark.slow
def test_the_flow_refuses_bad_values_before_any_trial(prefect_api, home, search_world):
    data, _ = search_world
    with pytest.raises(ParameterTypeError):
        architecture_search(config=DEMO, data=str(data), trials=0)
    with pytest.raises(ConfigError, match=r"^search.budget_minutes: 0.001 min is too small"):
        architecture_search(config=DEMO, data=str(data), budget_minutes=0.001)
    assert _studies(home) == []  # no study was opened, so no trial started
    # Each refused run is told to on-call: the form's refusal, then the budget's sentence.
    failures = (home.root / "failures.jsonl").read_text().splitlines()
    assert len(failures) == 2 and "trials: Input should be greater than" in failures[0]
    assert "search.budget_minutes: 0.001 min is too small for one trial" in failures[1]
    client = MlflowClient(home.tracking_uri)
    assert not client.search_runs(
        [e.experiment_id for e in client.search_experiments()]
    )  # nor any stage


@pytest.mark.slow
def test_a_search_run_records_trials_and_the_front(
    prefect_api, home, search_world, search_overrides
):
    data, _ = search_world
    summary = architecture_search(
        config=DEMO,
        data=str(data),
        trials=3,
        objectives=["quality", "latency_p95", "params"],
        overrides=search_overrides,
    )
    search = summary["search"]
    assert search["counts"]["new"] == 3 and search["front"]
    client = MlflowClient(home.tracking_uri)
    parent = client.get_run(summary["mlflow_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["karpa.search.study"] == "architecture-search"
    assert parent.data.params["search.trials"] == "3"  # a search logs its own section
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    trials = {r.info.run_name: r for r in children if r.info.run_name.startswith("trial-")}
    assert set(trials) == {"trial-0", "trial-1", "trial-2"}
    assert {r.info.run_name for r in children} >= {"ingest", "validate", "align"}
    for run in trials.values():
        state = run.data.tags["karpa.trial_state"]
        assert state in ("complete", "pruned", "failed")
        assert run.info.status == {"complete": "FINISHED", "pruned": "KILLED"}.get(state, "FAILED")
        assert run.data.params["search.width"] in ("16", "32")
        history = client.get_metric_history(run.info.run_id, "intermediate.val")
        assert history and all(m.step > 0 for m in history)
        if state == "complete":
            assert {"objective.quality", "objective.latency_p95", "objective.params"} <= set(
                run.data.metrics
            )
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "search")}
    assert artifacts == {"search/front.png", "search/front.md"}

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def fronts():
        async with get_client() as c:
            return await c.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[FRONT_KEY]))
            )

    found = asyncio.run(fronts())
    assert found and "Pareto front" in found[-1].data and "(knee)" in found[-1].data
