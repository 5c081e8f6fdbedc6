"""The finetune task: one per application, each with its own MLflow child run."""

from __future__ import annotations

from prefect import get_run_logger, task

from karpa.config import FinetuneConfig
from karpa.finetuning import run_application
from karpa.input_examples import application_example
from karpa.manifests import AlignManifest, AppManifest, FoundationManifest, PipelineRun
from karpa.store import Store
from karpa.tracking.stages import record_application
from tasks.retry import transient_only
from tasks.tracking import tracker


@task(
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=transient_only,
    task_run_name="finetune-{app}",
)
def finetune_app(
    run: PipelineRun,
    app: str,
    views: AlignManifest,
    foundation: FoundationManifest,
    cfg: FinetuneConfig,
) -> AppManifest:
    logger = get_run_logger()
    t = tracker(run)
    run_id = t.start_run(
        f"finetune-{app}",
        parent_id=run.mlflow_run_id,
        tags={
            "karpa.stage": "finetune",
            "karpa.application": app,
            "karpa.foundation": foundation.fingerprint,
            "karpa.foundation_run_id": foundation.mlflow_run_id or "-",
        },
    )

    def on_metrics(metrics: dict[str, float], step: int) -> None:
        t.log_metrics(run_id, {f"train.{k}": v for k, v in metrics.items()}, step=step)

    try:
        m = run_application(
            app, views, foundation, cfg, Store(run.folders.store), on_metrics=on_metrics
        )
        head = m.headline
        gain = m.pretraining_gain or {}
        logger.info(
            "%s: %s %.4f [%.4f, %.4f]%s",
            app,
            head["metric"],
            head["estimate"],
            head["low"],
            head["high"],
            f"; pretraining gain {gain['estimate']:+.4f} [{gain['low']:+.4f}, {gain['high']:+.4f}]"
            if gain
            else "",
        )
        uri = record_application(t, run_id, m, application_example(app, views))
        return m.model_copy(update={"model_uri": uri, "mlflow_run_id": run_id})
    except BaseException:
        t.end_run(run_id, ok=False)
        raise
