"""The promote task: the promote stage (karpa.promotion.stage) in its own MLflow child run."""

from __future__ import annotations

from prefect import task

from karpa.config import PromoteConfig
from karpa.manifests import AlignManifest, AppManifest, FoundationManifest, PipelineRun
from karpa.promotion.stage import decision_metrics, promote_models
from karpa.tracking.registry import Registry
from tasks.retry import transient_only
from tasks.tracking import tracker


# A retry is safe: versions are registered under the pipeline run's key and found again,
# and a decision already recorded on a version stands (karpa.promotion.stage).
@task(retries=1, retry_delay_seconds=5, retry_condition_fn=transient_only, task_run_name="promote")
def promote(
    run: PipelineRun,
    views: AlignManifest,
    foundation: FoundationManifest,
    apps: list[AppManifest],
    cfg: PromoteConfig,
    seed: int,
) -> dict[str, dict]:
    home = run.folders
    t = tracker(run)
    registry = Registry(home.tracking_uri, home.root / "audit.jsonl")
    run_id = t.start_run("promote", parent_id=run.mlflow_run_id, tags={"karpa.stage": "promote"})
    try:
        decisions = promote_models(registry, run.mlflow_run_id, views, foundation, apps, cfg, seed)
        t.log_metrics(run_id, decision_metrics(decisions, apps, cfg.registry_prefix))
        t.log_dict(run_id, decisions, "promotion/decisions.json")
        t.log_artifact(run_id, registry.audit_log, "promotion")
        t.end_run(run_id)
        return decisions
    except BaseException:
        t.end_run(run_id, ok=False)
        raise
