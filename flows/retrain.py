"""The retrain flow: wiring only. Each stage is a task that returns a small manifest."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.hooks import report_run
from flows.params import RetrainParams
from karpa.config import RunConfig
from tasks.align import align_views
from tasks.finetune import finetune_app
from tasks.ingest import ingest
from tasks.pretrain import champion_foundation_stage, pretrain_stage
from tasks.promote import promote
from tasks.tracking import close_pipeline_run, log_ingest, open_pipeline_run
from tasks.validate import validate_tables


def resolve(params: RetrainParams) -> RunConfig:
    return params.resolve()


@flow(name="karpa-retrain", log_prints=False, on_completion=[report_run],
      on_failure=[report_run])
def retrain(params: RetrainParams | None = None) -> dict:
    """sources -> ingest -> validate -> align (-> pretrain -> finetune -> evaluate -> promote).

    With `finetune.foundation: champion` the registry's champion foundation replaces the
    pretrain stage: an on-demand fine-tune from what is serving."""
    cfg = resolve(params or RetrainParams())
    run_id = open_pipeline_run(cfg)
    summary: dict = {"mlflow_run_id": run_id}
    try:
        tables = [f.result() for f in [ingest.submit(cfg, t) for t in cfg.data.sources]]
        log_ingest(cfg, run_id, tables)
        summary["tables"] = [t.model_dump() for t in tables]
        if cfg.runs("validate"):
            validated = validate_tables(cfg, run_id, {t.table: t for t in tables})
            summary["validate"] = validated.counts
        if cfg.runs("align"):
            views = align_views(cfg, run_id, validated.accepted)
            summary["align"] = views.views
        if cfg.runs("pretrain") and cfg.finetune.foundation == "champion":
            foundation = champion_foundation_stage(cfg, run_id)
            summary["pretrain"] = {"champion_version": foundation.registry_version,
                                   "steps": foundation.steps, "skipped": True,
                                   **foundation.retrieval}
        elif cfg.runs("pretrain"):
            foundation = pretrain_stage(cfg, run_id, views)
            summary["pretrain"] = {"steps": foundation.steps, "skipped": foundation.skipped,
                                   "first_losses": foundation.first_losses,
                                   "final_losses": foundation.final_losses,
                                   **foundation.retrieval}
        if cfg.runs("finetune"):
            apps = [finetune_app(cfg, run_id, app, views, foundation)
                    for app in cfg.finetune.applications]
            summary["finetune"] = {a.application: {"headline": a.headline,
                                                   "pretraining_gain": a.pretraining_gain,
                                                   "report": a.report}
                                   for a in apps}
        if cfg.runs("promote"):
            summary["promote"] = promote(cfg, run_id, views, foundation, apps)
    except BaseException as exc:
        close_pipeline_run(cfg, run_id, ok=False, reason=str(exc))
        raise
    close_pipeline_run(cfg, run_id, ok=True)
    get_run_logger().info("pipeline finished: MLflow run %s", run_id)
    return summary
