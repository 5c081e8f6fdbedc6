"""Tasks that open and close MLflow runs and link them with the Prefect flow run."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact
from prefect.runtime import flow_run

from karpa.config import RunConfig, flatten
from karpa.home import resolve_home
from karpa.manifests import TableManifest
from karpa.tracking import Tracker


def tracker(cfg: RunConfig) -> Tracker:
    return Tracker(resolve_home(), cfg.tracking.experiment)


@task(retries=2, retry_delay_seconds=2)
def open_pipeline_run(cfg: RunConfig) -> str:
    """The parent MLflow run, tagged with the Prefect flow run, and linked back to it."""
    t = tracker(cfg)
    tags = {"karpa.config": cfg.name}
    if flow_run.id:
        tags["prefect.flow_run_id"] = str(flow_run.id)
        tags["prefect.flow_run_name"] = str(flow_run.name)
        if flow_run.ui_url:
            tags["prefect.flow_run_url"] = str(flow_run.ui_url)
    run_id = t.start_run(f"{cfg.name}-{flow_run.name or 'local'}", tags=tags)
    t.log_config(run_id, flatten(cfg), cfg.model_dump(mode="json"))
    url = t.run_url(run_id, cfg.tracking.ui_url)
    if flow_run.id:
        create_link_artifact(
            key="mlflow-run", link=url, link_text=f"MLflow run {run_id}",
            description="The MLflow parent run of this pipeline run (open with `karpa ui`).",
        )
    get_run_logger().info("MLflow run %s: %s", run_id, url)
    return run_id


@task(retries=2, retry_delay_seconds=2)
def log_stage(
    cfg: RunConfig, parent_id: str, stage: str, tables: list[TableManifest]
) -> str:
    """A child run for one stage, with its tables as input datasets and their counts."""
    t = tracker(cfg)
    run_id = t.start_run(stage, parent_id=parent_id, tags={"karpa.stage": stage})
    t.log_tables(run_id, tables, context=stage)
    skipped = [m.table for m in tables if m.skipped]
    t.set_tags(run_id, {"karpa.skipped_tables": ",".join(skipped) or "-"})
    t.log_metrics(run_id, {"tables_skipped": len(skipped), "tables": len(tables)})
    t.end_run(run_id)
    return run_id


@task(retries=2, retry_delay_seconds=2)
def close_pipeline_run(cfg: RunConfig, run_id: str, ok: bool, reason: str = "") -> None:
    t = tracker(cfg)
    if reason:
        t.set_tags(run_id, {"karpa.failure": reason[:5000]})
    t.end_run(run_id, ok=ok)
