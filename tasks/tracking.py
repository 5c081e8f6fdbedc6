"""Tasks and helpers that open and close MLflow runs and link them with Prefect runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact
from prefect.runtime import flow_run

from karpa.config import RunConfig, run_params
from karpa.home import Home
from karpa.manifests import PipelineRun, TableManifest
from karpa.tracking import Tracker
from tasks.retry import transient_only


def tracker(run: PipelineRun) -> Tracker:
    return Tracker(run.folders, run.experiment)


def record_stage(
    run: PipelineRun,
    stage: str,
    *,
    metrics: Mapping[str, float] | None = None,
    tables: list[TableManifest] | None = None,
    artifacts: Mapping[str, Path] | None = None,
    tags: Mapping[str, str] | None = None,
    ok: bool = True,
) -> str:
    """One child MLflow run for a stage: its tables, metrics, artifacts and tags."""
    t = tracker(run)
    run_id = t.start_run(
        stage, parent_id=run.mlflow_run_id, tags={"karpa.stage": stage, **(tags or {})}
    )
    if tables:
        t.log_tables(run_id, tables, context=stage)
    if metrics:
        t.log_metrics(run_id, metrics)
    for folder, path in (artifacts or {}).items():
        t.log_artifact(run_id, path, folder or None)
    t.end_run(run_id, ok=ok)
    return run_id


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=transient_only)
def open_pipeline_run(cfg: RunConfig, home: Home, search: bool = False) -> PipelineRun:
    """The parent MLflow run, tagged with the Prefect flow run, and linked back to it. Its
    parameters are the config's, the `search` section only for a search (`search`)."""
    t = Tracker(home, cfg.tracking.experiment)
    tags = {"karpa.config": cfg.name}
    if flow_run.id:
        tags["prefect.flow_run_id"] = str(flow_run.id)
        tags["prefect.flow_run_name"] = str(flow_run.name)
        if flow_run.ui_url:
            tags["prefect.flow_run_url"] = str(flow_run.ui_url)
    run_id = t.start_run(f"{cfg.name}-{flow_run.name or 'local'}", tags=tags)
    t.log_config(run_id, run_params(cfg, search=search), cfg.model_dump(mode="json"))
    url = t.run_url(run_id, cfg.tracking.ui_url)
    if flow_run.id:
        create_link_artifact(
            key="mlflow-run",
            link=url,
            link_text=f"MLflow run {run_id}",
            description="The MLflow parent run of this pipeline run (open with `karpa ui`).",
        )
    get_run_logger().info("MLflow run %s: %s", run_id, url)
    return PipelineRun(home=home.root, experiment=cfg.tracking.experiment, mlflow_run_id=run_id)


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=transient_only)
def log_ingest(run: PipelineRun, tables: list[TableManifest]) -> str:
    """The ingest stage's child run: tables as input datasets, their rows and bytes."""
    skipped = [m.table for m in tables if m.skipped]
    return record_stage(
        run,
        "ingest",
        tables=tables,
        metrics={"tables": len(tables), "tables_skipped": len(skipped)},
        tags={"karpa.skipped_tables": ",".join(skipped) or "-"},
    )


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=transient_only)
def close_pipeline_run(run: PipelineRun, ok: bool, reason: str = "") -> None:
    t = tracker(run)
    if reason:
        t.set_tags(run.mlflow_run_id, {"karpa.failure": reason[:5000]})
    t.end_run(run.mlflow_run_id, ok=ok)
