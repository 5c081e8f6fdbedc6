"""The architecture search flow, `karpa-search`, that `karpa search` runs and the
`architecture-search` deployment (prefect.yaml) starts from the Prefect UI: the data
stages as the retrain runs them (an unchanged stage is reused), then the Optuna study,
then its Pareto front. Wiring only.

Its form is typed from the config schema (karpa/config_search.py): trials, the time
budget, the objectives and the applications, with their bounds and choices; a bad value
is refused before any trial starts.
"""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow
from prefect.states import State
from pydantic import BaseModel, ConfigDict, Field, model_validator

from flows.data_stages import data_stages
from flows.failure import failed_state
from flows.hooks import report_run
from flows.params import DEFAULT_CONFIG, FORM, ConfigPath, DataRoot, Overrides
from karpa.allocators import bound_heap
from karpa.config import RunConfig, field_bounds, load_config
from karpa.config_search import Objective, SearchApplication, SearchConfig
from karpa.home import Home, resolve_home
from karpa.search.budget import check_budget
from karpa.search.space import check_space
from tasks.search import search_study
from tasks.tracking import close_pipeline_run, open_pipeline_run

Trials = Annotated[
    int | None,
    Field(
        **field_bounds(SearchConfig, "trials"),
        title="Trials",
        description="Finished trials the study should hold (a resumed study counts its "
        "earlier ones); empty: the config's search.trials.",
    ),
]
BudgetMinutes = Annotated[
    float | None,
    Field(
        **field_bounds(SearchConfig, "budget_minutes"),
        title="Time budget (minutes)",
        description="No trial starts after this; empty: the config's search.budget_minutes.",
    ),
]
Objectives = Annotated[
    list[Objective] | None,
    Field(
        min_length=1,
        title="Objectives",
        description="What each trial is scored on: validation quality (mean, or one "
        "application's), CPU latency p50/p95 of one request, parameters; empty: the config's.",
    ),
]
Applications = Annotated[
    list[SearchApplication] | None,
    Field(
        min_length=1,
        title="Applications",
        description="The applications each trial fine-tunes and scores; empty: the config's.",
    ),
]


class SearchParams(BaseModel):
    """What a person may change when starting a search."""

    model_config = ConfigDict(extra="forbid")

    config: ConfigPath = DEFAULT_CONFIG
    data: DataRoot = None
    trials: Trials = None
    budget_minutes: BudgetMinutes = None
    objectives: Objectives = None
    applications: Applications = None
    overrides: Overrides = Field(default_factory=list)

    def typed_values(self) -> dict[str, Any]:
        typed = {
            "search.trials": self.trials,
            "search.budget_minutes": self.budget_minutes,
            "search.objectives": self.objectives,
            "search.applications": self.applications,
        }
        return {key: value for key, value in typed.items() if value is not None}

    @model_validator(mode="after")
    def _consistent(self) -> SearchParams:
        # An objective of an application that is not searched is refused by the form.
        if self.objectives is not None and self.applications is not None:
            SearchConfig(objectives=self.objectives, applications=self.applications)
        return self

    def resolve(self, check_time: bool = True) -> RunConfig:
        """The run's config with the typed choices (free-form overrides win), checked
        completely: the search space against the rest of the run, and (check_time) the
        budget against one trial, measured here (karpa/search/budget.py)."""
        cfg = load_config(self.config, self.overrides, self.data, values=self.typed_values())
        check_space(cfg)
        if check_time:
            check_budget(cfg)
        return cfg


# Flow parameter defaults that carry each field's description (Prefect's form reads it
# from a `Field` default); choices and bounds come from the types.
SEARCH_FORM = {
    name: Field(None, description=SearchParams.model_fields[name].description)
    for name in ("trials", "budget_minutes", "objectives", "applications")
}


@flow(name="karpa-search", on_completion=[report_run], on_failure=[report_run])
def architecture_search(
    config: ConfigPath = FORM["config"],
    data: DataRoot = FORM["data"],
    trials: Trials = SEARCH_FORM["trials"],
    budget_minutes: BudgetMinutes = SEARCH_FORM["budget_minutes"],
    objectives: Objectives = SEARCH_FORM["objectives"],
    applications: Applications = SEARCH_FORM["applications"],
    overrides: Overrides = FORM["overrides"],
) -> dict | State:
    """sources -> ingest -> validate -> align -> the Optuna study -> its Pareto front;
    a failure ends the run with one sentence saying why."""
    params = SearchParams(
        config=config,
        data=data,
        trials=trials,
        budget_minutes=budget_minutes,
        objectives=objectives,
        applications=applications,
        overrides=overrides,
    )
    try:
        return search_pipeline(params.resolve(), resolve_home())
    except Exception as exc:
        return failed_state(exc)


def search_pipeline(cfg: RunConfig, home: Home) -> dict:
    """The data stages (reused when unchanged), then the study, under one MLflow run."""
    bound_heap(cfg)
    run = open_pipeline_run(cfg, home, search=True)
    summary: dict = {"mlflow_run_id": run.mlflow_run_id}
    try:
        views = data_stages(run, cfg, home).views
        summary["search"] = search_study(run, views, cfg)
    except BaseException as exc:
        close_pipeline_run(run, ok=False, reason=str(exc))
        raise
    close_pipeline_run(run, ok=True)
    return summary
