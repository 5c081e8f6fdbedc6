"""The flows that `prefect.yaml` deploys: the retrain pipeline, and an on-demand fine-tune
from the champion foundation, each with a form, a summary and a one-sentence failure.

The parameters are flat on purpose: Prefect merges a run's parameters into the
deployment's one top-level key at a time, so with flat ones a run of `validate-data` that
sets only `data` keeps the deployment's `until=validate`; with one nested model it would
silently replace all of it. Their types (choices, bounds, descriptions) come from
flows/params.py, and they are validated into the same `RetrainParams` the CLI uses.
"""

from __future__ import annotations

import traceback

from prefect import flow, get_run_logger
from prefect.states import Failed, State

from flows.hooks import mlflow_ui_url, report_run
from flows.params import (
    FINETUNE_FORM,
    FORM,
    Application,
    ApplicationChoice,
    ConfigPath,
    DataRoot,
    FinetuneUntil,
    Overrides,
    Preset,
    PretrainLR,
    PretrainSteps,
    RetrainParams,
    Until,
)
from flows.retrain import retrain
from karpa.config import TrackingConfig
from karpa.errors import KarpaError

MESSAGE_MAX = 500


def failure_sentence(exc: BaseException) -> str:
    """The final state's message: a KarpaError already is one sentence naming the file,
    column or rule; anything else is a bug, named by its type and first line."""
    if isinstance(exc, KarpaError):
        text = str(exc)
    else:
        first = (str(exc).strip().splitlines() or [""])[0]
        text = (
            f"Unexpected {type(exc).__name__}: {first}"
            if first
            else f"Unexpected {type(exc).__name__}"
        )
    return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 1] + "…"


def _links_to_tracking_server(params: RetrainParams) -> RetrainParams:
    """Point the Prefect → MLflow link at the tracking server when there is one (a server
    serves its own UI), unless the run says otherwise."""
    ui = mlflow_ui_url(TrackingConfig().ui_url)
    if ui == TrackingConfig().ui_url or any(
        o.startswith("tracking.ui_url=") for o in params.overrides
    ):
        return params
    return params.model_copy(update={"overrides": [f"tracking.ui_url={ui}", *params.overrides]})


@flow(name="karpa-retrain", on_completion=[report_run], on_failure=[report_run])
def retrain_deployed(
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
    return _run(RetrainParams(
        config=config,
        data=data,
        until=until,
        preset=preset,
        pretrain_steps=pretrain_steps,
        pretrain_lr=pretrain_lr,
        application=application,
        overrides=overrides,
    ))


@flow(name="karpa-finetune", on_completion=[report_run], on_failure=[report_run])
def finetune_deployed(
    config: ConfigPath = FORM["config"],
    data: DataRoot = FORM["data"],
    application: Application = FINETUNE_FORM["application"],
    until: FinetuneUntil = FINETUNE_FORM["until"],
    overrides: Overrides = FORM["overrides"],
) -> dict | State:
    """Fine-tune one application, or all, from the registry's champion foundation on the
    current data (ingest, validate and align reuse what is unchanged), evaluate, and by
    default put the new models through the promotion gate."""
    return _run(RetrainParams(
        config=config,
        data=data,
        until=until,
        application=application,
        overrides=["finetune.foundation=champion", *overrides],
    ))


def _run(params: RetrainParams) -> dict | State:
    try:
        # `.fn`: the retrain body runs as this flow run (one run, one MLflow link), not as
        # a subflow under it.
        return retrain.fn(_links_to_tracking_server(params))
    except Exception as exc:
        sentence = failure_sentence(exc)
        logger = get_run_logger()
        if isinstance(exc, KarpaError):
            logger.error("%s", sentence)
        else:
            logger.error("%s\n%s", sentence, "".join(traceback.format_exception(exc)))
        # Returning the state (instead of raising) makes its message exactly the sentence;
        # the exception travels as its data, so a direct caller still gets it raised.
        return Failed(message=sentence, data=exc)
