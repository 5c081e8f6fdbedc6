"""The on-demand fine-tune that `prefect.yaml` deploys beside the retrain flow
(flows/retrain.py, which the other deployments run): fine-tune from the champion
foundation, with its own form, the same summary and the same one-sentence failure.
The `architecture-search` deployment beside them runs flows/search.py:architecture_search.
"""

from __future__ import annotations

from prefect import flow
from prefect.states import State

from flows.hooks import report_run
from flows.params import (
    FINETUNE_FORM,
    FORM,
    Application,
    ConfigPath,
    DataRoot,
    FinetuneUntil,
    Overrides,
    RetrainParams,
)
from flows.retrain import run_retrain


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
    return run_retrain(
        RetrainParams(
            config=config,
            data=data,
            until=until,
            application=application,
            overrides=["finetune.foundation=champion", *overrides],
        )
    )
