"""Flow state hooks: every finished pipeline run publishes its summary, a failed one also
tells on-call why.

`report_run` is both the `on_completion` and the `on_failure` hook of the pipeline flows. It
reads the run's task timings from Prefect and its stage metrics from MLflow (found by the
`prefect.flow_run_id` tag that `open_pipeline_run` sets), then
- creates the markdown artifact `run-summary` on the flow run,
- logs headline numbers (seconds per stage, rows) on the MLflow parent run,
- on failure, appends one JSON line to `<home>/failures.jsonl` and tags the MLflow run
  with the reason and the failed stage.
A hook must never turn a finished run into an error: each part fails on its own, logged.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.logging.loggers import flow_run_logger
from prefect.states import State
from prefect.utilities.urls import url_for

from flows.params import RetrainParams
from karpa.config import RunConfig, TrackingConfig
from karpa.home import DEFAULT_EXPERIMENT, Home, resolve_home
from karpa.run_report import (
    RunFacts,
    TaskTiming,
    append_record,
    failed_stage,
    failure_record,
    mlflow_ui_url,
    parent_metrics,
    render_summary,
    stage_timings,
)
from karpa.tracking import Tracker

FAILURES_FILE = "failures.jsonl"
SUMMARY_KEY = "run-summary"
TASK_STATE_WAIT_S = 3.0


def _config(parameters: dict[str, Any]) -> RunConfig | None:
    """The run's resolved config, when its parameters are a retrain's and resolve."""
    try:
        return RetrainParams(**parameters).resolve()
    except Exception:  # a run that failed on its config has none
        return None


def _task_timings(client, flow_run_id) -> list[TaskTiming]:
    """The run's task runs. Prefect records task states from events, a moment after they
    happen: wait briefly for the last ones to land rather than report them as running."""
    deadline = time.monotonic() + TASK_STATE_WAIT_S
    while True:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
        if all(r.state and r.state.is_final() for r in runs) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    return [
        TaskTiming(
            r.name, r.state_type.value if r.state_type else "UNKNOWN", r.start_time, r.end_time
        )
        for r in runs
    ]


def report_run(flow: Flow, flow_run: FlowRun, state: State) -> None:
    """Publish the summary of a finished run; on failure, first record why for on-call."""
    logger = flow_run_logger(flow_run, flow)
    home = resolve_home()  # once: the hook runs in the flow run's process, on its home
    fresh, tasks, deployment = flow_run, [], None
    with get_client(sync_client=True) as client:
        try:
            fresh = client.read_flow_run(flow_run.id)
            tasks = _task_timings(client, flow_run.id)
            if fresh.deployment_id:
                deployment = f"{flow.name}/{client.read_deployment(fresh.deployment_id).name}"
        except Exception as exc:  # a summary with less is better than none
            logger.warning("run summary: Prefect API could not be read (%s)", exc)
        ended = state.timestamp or dt.datetime.now(dt.UTC)
        facts = RunFacts(
            flow_run_name=flow_run.name,
            state=state.type.value,
            message=state.message,
            parameters=fresh.parameters,
            timings=stage_timings(tasks),
            flow_seconds=(ended - fresh.start_time).total_seconds() if fresh.start_time else None,
            deployment=deployment,
        )
        tracker = _add_mlflow_facts(home, facts, fresh.parameters, str(flow_run.id), logger)
        if state.is_failed():
            _record_failure(
                home,
                facts,
                failed_stage(tasks),
                url_for(fresh),
                str(flow_run.id),
                tracker,
                logger,
            )
        try:
            client.create_artifact(
                ArtifactCreate(
                    key=SUMMARY_KEY,
                    type="markdown",
                    data=render_summary(facts),
                    description="Stage timings, row counts and headline metrics of this run",
                    flow_run_id=flow_run.id,
                )
            )
        except Exception as exc:
            logger.warning("run summary artifact not created (%s)", exc)


def _add_mlflow_facts(
    home: Home, facts: RunFacts, parameters: dict[str, Any], flow_run_id: str, logger
) -> Tracker | None:
    """Fill in the MLflow parent run and stage metrics, and log the headline numbers on the
    parent run. MLflow being down must not stop the summary or the failure record."""
    cfg = _config(parameters)
    try:
        tracker = Tracker(home, cfg.tracking.experiment if cfg else DEFAULT_EXPERIMENT)
        facts.mlflow_run_id, facts.stage_metrics = tracker.pipeline_metrics(flow_run_id)
        if facts.mlflow_run_id:
            ui = mlflow_ui_url(cfg.tracking.ui_url if cfg else TrackingConfig().ui_url)
            facts.mlflow_url = tracker.run_url(facts.mlflow_run_id, ui)
            tracker.log_metrics(facts.mlflow_run_id, parent_metrics(facts))
        return tracker
    except Exception as exc:
        logger.warning("run summary: MLflow could not be read (%s)", exc)
        return None


def _record_failure(
    home: Home,
    facts: RunFacts,
    stage: str | None,
    flow_run_url: str | None,
    flow_run_id: str,
    tracker: Tracker | None,
    logger,
) -> None:
    """One JSON line in `<home>/failures.jsonl`, and the reason on the MLflow run."""
    record = failure_record(
        facts,
        flow_run_id=flow_run_id,
        flow_run_url=flow_run_url,
        stage=stage,
        now=dt.datetime.now(dt.UTC),
    )
    path = home.root / FAILURES_FILE
    append_record(path, record)
    where = f" in {stage}" if stage else ""
    logger.error("run failed%s: %s (recorded in %s)", where, facts.message, path)
    if tracker is None or not facts.mlflow_run_id:
        return
    try:
        tracker.set_tags(
            facts.mlflow_run_id,
            {"karpa.failure": (facts.message or "")[:5000], "karpa.failed_stage": stage or "-"},
        )
    except Exception as exc:
        logger.warning("failure not tagged in MLflow (%s)", exc)
