"""The retrain flow: wiring only. Each stage is a task that returns a small manifest."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.params import RetrainParams
from karpa.config import RunConfig, load_config
from karpa.manifests import TableManifest
from tasks.ingest import ingest
from tasks.tracking import close_pipeline_run, log_stage, open_pipeline_run


def resolve(params: RetrainParams) -> RunConfig:
    return load_config(params.config, params.overrides, params.data)


@flow(name="karpa-retrain", log_prints=False)
def retrain(params: RetrainParams | None = None) -> dict:
    """sources -> ingest (-> validate -> align -> pretrain -> finetune -> evaluate -> promote)."""
    cfg = resolve(params or RetrainParams())
    run_id = open_pipeline_run(cfg)
    try:
        futures = [ingest.submit(cfg, table) for table in cfg.data.sources]
        tables: list[TableManifest] = [f.result() for f in futures]
        log_stage(cfg, run_id, "ingest", tables)
    except BaseException as exc:
        close_pipeline_run(cfg, run_id, ok=False, reason=str(exc))
        raise
    close_pipeline_run(cfg, run_id, ok=True)
    get_run_logger().info("pipeline finished: MLflow run %s", run_id)
    return {"mlflow_run_id": run_id, "tables": [t.model_dump() for t in tables]}
