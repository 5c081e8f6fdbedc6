"""The pretrain task: pretrain (or reuse) the foundation, log losses with steps,
throughput, retrieval figures, the checkpoint and a pyfunc model that embeds raw inputs."""

from __future__ import annotations

from prefect import get_run_logger, task

from karpa.config import PretrainConfig
from karpa.input_examples import foundation_example
from karpa.manifests import AlignManifest, FoundationManifest, PipelineRun
from karpa.pretraining.stage import pretrain_foundation
from karpa.store import Store
from karpa.tracking.stages import record_foundation
from tasks.retry import transient_only
from tasks.tracking import tracker


@task(retries=1, retry_delay_seconds=5, retry_condition_fn=transient_only, task_run_name="pretrain")
def pretrain_stage(
    run: PipelineRun, views: AlignManifest, cfg: PretrainConfig, seed: int
) -> FoundationManifest:
    """A retry resumes from the last checkpoint in the stage's working folder."""
    logger = get_run_logger()
    t = tracker(run)
    run_id = t.start_run("pretrain", parent_id=run.mlflow_run_id, tags={"karpa.stage": "pretrain"})

    def on_metrics(metrics: dict[str, float], step: int) -> None:
        t.log_metrics(run_id, {k.replace("/", "."): v for k, v in metrics.items()}, step=step)

    try:
        m = pretrain_foundation(views, cfg, seed, Store(run.folders.store), on_metrics=on_metrics)
        logger.info(
            "pretrain: %s (%s steps, %.0f samples/s); retrieval %s",
            "reused" if m.skipped else "trained",
            m.steps,
            m.samples_per_s,
            {k: round(v, 3) for k, v in m.retrieval.items() if "@1" in k},
        )
        uri = record_foundation(
            t, run_id, run.mlflow_run_id, m, foundation_example(views, m.corpus["image_size"])
        )
        return m.model_copy(update={"model_uri": uri, "mlflow_run_id": run_id})
    except BaseException:
        t.end_run(run_id, ok=False)
        raise


# Named as a pretrain task: in the run summary its time is the pretrain stage's.
@task(
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=transient_only,
    task_run_name="pretrain-champion",
)
def champion_foundation_stage(run: PipelineRun, registry_prefix: str) -> FoundationManifest:
    """The registry's champion foundation instead of pretraining (`finetune.foundation:
    champion`); its own child run records which version it was."""
    from karpa.tracking.foundation import champion_foundation
    from karpa.tracking.registry import Registry

    home = run.folders
    name = f"{registry_prefix}foundation"
    registry = Registry(home.tracking_uri, home.root / "audit.jsonl")
    m = champion_foundation(registry, name, home.store / "registry")
    get_run_logger().info(
        "foundation: %s v%s (champion), pretrained in run %s",
        name,
        m.registry_version,
        m.mlflow_run_id,
    )
    t = tracker(run)
    run_id = t.start_run(
        "foundation",
        parent_id=run.mlflow_run_id,
        tags={
            "karpa.stage": "pretrain",
            "karpa.foundation": m.fingerprint,
            "karpa.foundation.source": "registry",
            "karpa.foundation.version": m.registry_version,
            "karpa.foundation_run_id": m.mlflow_run_id or "-",
        },
    )
    t.log_metrics(run_id, {f"retrieval.{k.replace('/', '.')}": v for k, v in m.retrieval.items()})
    t.end_run(run_id)
    t.set_tags(run.mlflow_run_id, {"karpa.foundation_model_uri": m.model_uri or "-"})
    return m
