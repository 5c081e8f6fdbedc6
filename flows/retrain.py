"""The retrain flow, `karpa-retrain`: the one flow that `karpa run` and the deployments in
prefect.yaml (nightly, weekly, validate-data) all run. Wiring only: each stage is a task
that returns a small manifest.

The parameters are flat on purpose: Prefect merges a run's parameters into the
deployment's one top-level key at a time, so with flat ones a run of `validate-data` that
sets only `data` keeps the deployment's `until=validate`; with one nested model it would
silently replace all of it. Their types (choices, bounds, descriptions) come from
flows/params.py, and they are validated into `RetrainParams`.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.states import State

from flows.data_stages import data_stages
from flows.failure import failed_state
from flows.finetune_apps import finetune_apps
from flows.hooks import report_run
from flows.params import (
    FORM,
    ApplicationChoice,
    ConfigPath,
    DataRoot,
    Overrides,
    Preset,
    PretrainLR,
    PretrainSteps,
    RetrainParams,
    Until,
)
from karpa.allocators import bound_heap
from karpa.config import RunConfig, TrackingConfig
from karpa.home import Home, resolve_home
from karpa.run_report import mlflow_ui_url
from tasks.finetune import finetune_joint
from tasks.pretrain import champion_foundation_stage, pretrain_stage
from tasks.promote import promote
from tasks.tracking import close_pipeline_run, open_pipeline_run


@flow(name="karpa-retrain", on_completion=[report_run], on_failure=[report_run])
def retrain(
    config: ConfigPath = FORM["config"],
    data: DataRoot = FORM["data"],
    until: Until = FORM["until"],
    preset: Preset = FORM["preset"],
    pretrain_steps: PretrainSteps = FORM["pretrain_steps"],
    pretrain_lr: PretrainLR = FORM["pretrain_lr"],
    application: ApplicationChoice = FORM["application"],
    overrides: Overrides = FORM["overrides"],
) -> dict | State:
    """sources -> ingest -> validate -> align -> pretrain -> ... up to `until`, then a
    summary artifact; a failure ends the run with one sentence saying why."""
    return run_retrain(
        RetrainParams(
            config=config,
            data=data,
            until=until,
            preset=preset,
            pretrain_steps=pretrain_steps,
            pretrain_lr=pretrain_lr,
            application=application,
            overrides=overrides,
        )
    )


def run_retrain(params: RetrainParams) -> dict | State:
    """The body of a pipeline flow run: the config and the home resolved once, then the
    pipeline; a failure becomes the run's final state, its message one sentence."""
    try:
        cfg = _links_to_tracking_server(params).resolve()
        return pipeline(cfg, resolve_home())
    except Exception as exc:
        return failed_state(exc)


def _links_to_tracking_server(params: RetrainParams) -> RetrainParams:
    """Point the Prefect → MLflow link at the tracking server when there is one (a server
    serves its own UI), unless the run says otherwise."""
    ui = mlflow_ui_url(TrackingConfig().ui_url)
    if ui == TrackingConfig().ui_url or any(
        o.startswith("tracking.ui_url=") for o in params.overrides
    ):
        return params
    return params.model_copy(update={"overrides": [f"tracking.ui_url={ui}", *params.overrides]})


def pipeline(cfg: RunConfig, home: Home) -> dict:
    """sources -> ingest -> validate -> align (-> pretrain -> finetune -> evaluate -> promote).

    With `finetune.foundation: champion` the registry's champion foundation replaces the
    pretrain stage: an on-demand fine-tune from what is serving."""
    bound_heap(cfg)
    run = open_pipeline_run(cfg, home)
    summary: dict = {"mlflow_run_id": run.mlflow_run_id}
    try:
        data = data_stages(run, cfg, home, through=cfg.until)
        summary.update(data.summary())
        views = data.views
        if cfg.runs("pretrain") and cfg.finetune.foundation == "champion":
            foundation = champion_foundation_stage(run, cfg.promote.registry_prefix)
            summary["pretrain"] = {
                "champion_version": foundation.registry_version,
                "steps": foundation.steps,
                "skipped": True,
                **foundation.retrieval,
            }
        elif cfg.runs("pretrain"):
            foundation = pretrain_stage(run, views, cfg.pretrain, cfg.seed)
            summary["pretrain"] = {
                "steps": foundation.steps,
                "skipped": foundation.skipped,
                "first_losses": foundation.first_losses,
                "final_losses": foundation.final_losses,
                "foundation": foundation.checks.get("sentence"),
                **foundation.retrieval,
            }
        if cfg.runs("finetune"):
            joint = finetune_joint(run, views, foundation, cfg.finetune)
            if joint is not None:
                summary["multitask"] = joint.training
            apps = finetune_apps(run, views, foundation, cfg.finetune)
            summary["finetune"] = {
                a.application: {
                    "headline": a.headline,
                    "pretraining_gain": a.pretraining_gain,
                    "report": a.report,
                }
                for a in apps
            }
        if cfg.runs("promote"):
            summary["promote"] = promote(run, views, foundation, apps, cfg.promote, cfg.seed)
    except BaseException as exc:
        close_pipeline_run(run, ok=False, reason=str(exc))
        raise
    close_pipeline_run(run, ok=True)
    get_run_logger().info("pipeline finished: MLflow run %s", run.mlflow_run_id)
    return summary
