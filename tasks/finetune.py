"""The finetune tasks: the joint multi-task fine-tune of the text applications (when on),
then one per application, each with its own MLflow child run."""

from __future__ import annotations

from prefect import get_run_logger, task

from karpa.config import FinetuneConfig
from karpa.finetuning import run_application
from karpa.finetuning_joint import joint_metrics, joint_settings, run_joint
from karpa.input_examples import application_example
from karpa.manifests import (
    AlignManifest,
    AppManifest,
    FoundationManifest,
    JointManifest,
    PipelineRun,
)
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


@task(
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=transient_only,
    task_run_name="finetune-multitask",
)
def finetune_joint(
    run: PipelineRun,
    views: AlignManifest,
    foundation: FoundationManifest,
    cfg: FinetuneConfig,
) -> JointManifest | None:
    """The joint fine-tune of the text applications, stored for them to read; None when
    `finetune.multitask` is off or fewer than two text applications can share it."""
    if not joint_settings(cfg, foundation.preset):
        return None
    logger = get_run_logger()
    t = tracker(run)
    run_id = t.start_run(
        "finetune-multitask",
        parent_id=run.mlflow_run_id,
        tags={
            "karpa.stage": "finetune",
            "karpa.application": "multitask",
            "karpa.foundation": foundation.fingerprint,
        },
    )

    def on_metrics(metrics: dict[str, float], step: int) -> None:
        t.log_metrics(run_id, {f"train.{k}": v for k, v in metrics.items()}, step=step)

    try:
        m = run_joint(views, foundation, cfg, Store(run.folders.store), on_metrics=on_metrics)
        if m is None:  # joint_settings said otherwise a moment ago: nothing to record
            t.end_run(run_id)
            return None
        t.log_metrics(run_id, joint_metrics(m))
        t.set_tags(run_id, {"karpa.finetune.skipped": str(m.skipped)})
        logger.info(
            "multitask (%s sampling): %s",
            m.sampling,
            ", ".join(
                f"{app} {info['task_batches']} batches, "
                + ", ".join(
                    f"{k} {v:.4f}"
                    for k, v in info.items()
                    if k.startswith("best_val_") and "mean" not in k
                )
                for app, info in m.training.items()
            ),
        )
        t.end_run(run_id)
        return m.model_copy(update={"mlflow_run_id": run_id})
    except BaseException:
        t.end_run(run_id, ok=False)
        raise
