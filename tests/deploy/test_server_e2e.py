"""Server mode end to end: `karpa deploy`, runs created through the Prefect API and run by
the worker, tracked in the MLflow server, linked both ways; bad parameters refused; one
run at a time; a failure told in one sentence."""

from __future__ import annotations

import json

import pytest
from prefect.exceptions import PrefectHTTPStatusError

from flows.hooks import FAILURES_FILE, SUMMARY_KEY
from karpa.deploy import alive, deploy

from .conftest import REPO, eventually, flow_run_artifacts, mlflow_parent, wait_final

pytestmark = pytest.mark.server


def test_deployments_have_schedules_limits_and_a_closed_schema(prefect_client):
    nightly = prefect_client.read_deployment_by_name("karpa-retrain/nightly-retrain")
    assert nightly.schedules[0].schedule.cron == "0 2 * * *"
    assert nightly.schedules[0].schedule.timezone == "UTC"
    weekly = prefect_client.read_deployment_by_name("karpa-retrain/weekly-full-pretrain")
    assert weekly.parameters["overrides"] == ["pretrain.steps=3000"]
    for d in (nightly, weekly):
        assert d.enforce_parameter_schema
        assert d.global_concurrency_limit.limit == 1
        assert d.concurrency_options.collision_strategy.value == "ENQUEUE"
        assert d.parameter_openapi_schema["additionalProperties"] is False
        assert d.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
        ]
    assert prefect_client.read_work_pool("karpa-local").concurrency_limit == 1


def test_validate_data_run_completes_and_links_mlflow(stack, prefect_client, validated):
    flow_run = validated.flow_run
    assert flow_run.state.is_completed(), flow_run.state.message
    # rows.in and the summary come from the completion hook, after the run turned final.
    parent = mlflow_parent(stack, flow_run.id, metrics=["rows.in"])
    params, tags = parent.data.params, parent.data.tags
    # The deployment's until=validate survives a run that sets other parameters.
    assert params["until"] == "validate"
    assert params["data.root"] == str(stack.world)
    assert params["pretrain.steps"] == "7" and params["ingest.batch_rows"] == "5000"
    assert params["tracking.ui_url"] == stack.mlflow_url
    assert tags["prefect.flow_run_name"] == flow_run.name
    assert tags["prefect.flow_run_url"].startswith(stack.ui_url)
    assert str(flow_run.id) in tags["prefect.flow_run_url"]
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["rows.in"] > 0

    artifacts = flow_run_artifacts(prefect_client, flow_run.id, ["mlflow-run", SUMMARY_KEY])
    assert f"({stack.mlflow_url}/#/experiments/" in artifacts["mlflow-run"].data
    assert parent.info.run_id in artifacts["mlflow-run"].data
    summary = artifacts[SUMMARY_KEY].data
    assert "karpa-retrain/validate-data" in summary and "| validate | completed |" in summary


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"pretrain_steps": 0}, "pretrain_steps"),
        ({"until": "everything"}, "until"),
        ({"overrides": ["pretrain.steps"]}, "overrides"),
        ({"overrides": ["pretrain.stepz=3"]}, "overrides"),
        ({"pretrian_steps": 5}, "pretrian_steps"),
    ],
)
def test_bad_parameters_are_refused_before_a_run_exists(
    stack, prefect_client, validated, bad, field
):
    before = prefect_client.count_flow_runs()
    with pytest.raises(PrefectHTTPStatusError) as refused:
        prefect_client.create_flow_run_from_deployment(validated.deployment_id, parameters=bad)
    assert refused.value.response.status_code == 409
    assert field in refused.value.response.json()["detail"]
    assert prefect_client.count_flow_runs() == before


def test_failed_run_says_why_in_one_sentence(stack, prefect_client, validated):
    missing = stack.world.parent / "not-there"
    created = prefect_client.create_flow_run_from_deployment(
        validated.deployment_id, parameters={"data": str(missing)}
    )
    flow_run = wait_final(prefect_client, created.id)
    assert flow_run.state.is_failed()
    message = flow_run.state.message
    assert "does not exist" in message and str(missing) in message and "\n" not in message

    # The failure hook runs after the state turns Failed: wait for its record and tags.
    path = stack.home.root / FAILURES_FILE
    text = eventually(
        lambda: path.read_text() if path.is_file() else "",
        lambda t: str(flow_run.id) in t,
        f"failure record in {path}",
    )
    record = json.loads(text.splitlines()[-1])
    assert record["flow_run_id"] == str(flow_run.id)
    assert (record["deployment"], record["stage"], record["reason"]) == (
        "karpa-retrain/validate-data",
        "ingest",
        message,
    )
    assert record["flow_run_url"].startswith(stack.ui_url)
    parent = mlflow_parent(stack, flow_run.id, tags=["karpa.failure", "karpa.failed_stage"])
    assert parent.data.tags["karpa.failure"] == message
    assert parent.data.tags["karpa.failed_stage"] == "ingest"


def test_runs_of_two_deployments_wait_for_each_other(stack, prefect_client, validated):
    """A manual validate-data run and a nightly-retrain started at the same moment run one
    after the other (the pool's limit), never side by side."""
    nightly = prefect_client.read_deployment_by_name("karpa-retrain/nightly-retrain")
    same = {"data": str(stack.world), "until": "validate"}
    created = [
        prefect_client.create_flow_run_from_deployment(
            validated.deployment_id, parameters={"data": same["data"]}
        ),
        prefect_client.create_flow_run_from_deployment(nightly.id, parameters=same),
    ]
    runs = [wait_final(prefect_client, c.id) for c in created]
    assert all(r.state.is_completed() for r in runs), [r.state.message for r in runs]
    first, second = sorted(runs, key=lambda r: r.start_time)
    assert second.start_time >= first.end_time


def test_deploy_again_reuses_what_runs(stack):
    again = deploy(stack.home, REPO, query_seconds=2)
    for before, after in (
        (stack.state.prefect, again.prefect),
        (stack.state.mlflow, again.mlflow),
        (stack.state.worker, again.worker),
    ):
        assert (after.pid, after.url) == (before.pid, before.url)
        assert alive(after)
    assert "karpa-retrain/validate-data" in again.deployments
    assert "karpa-finetune/finetune" in again.deployments


def test_finetune_deployment_runs_from_the_champion_and_refuses_bad_values(
    stack, prefect_client, finetuned
):
    """A nightly run promoted a foundation; a `finetune` run created through the API with
    parameters fine-tuned one application from it, without pretraining."""
    deployment = prefect_client.read_deployment(finetuned.deployment_id)
    assert deployment.enforce_parameter_schema
    assert deployment.global_concurrency_limit.limit == 1
    for bad, field in (
        ({"application": "everything"}, "application"),
        ({"until": "pretrain"}, "until"),
        ({"steps": 3}, "steps"),
    ):
        with pytest.raises(PrefectHTTPStatusError) as refused:
            prefect_client.create_flow_run_from_deployment(deployment.id, parameters=bad)
        assert refused.value.response.status_code == 409
        assert field in refused.value.response.json()["detail"]

    flow_run = finetuned.flow_run
    assert flow_run.state.is_completed(), flow_run.state.message
    parent = mlflow_parent(stack, flow_run.id, metrics=["intent.headline"])
    params, tags = parent.data.params, parent.data.tags
    assert params["finetune.foundation"] == "champion"
    assert params["finetune.applications"] == "['intent']"
    assert params["until"] == "finetune"
    assert params["data.root"] == str(stack.world)
    assert tags["prefect.flow_run_url"].startswith(stack.ui_url)
    assert tags["karpa.foundation_model_uri"] == "models:/karpa-foundation/1"
    assert parent.info.status == "FINISHED"
    assert 0.0 <= parent.data.metrics["intent.headline"] <= 1.0  # from the summary hook

    from mlflow.tracking import MlflowClient

    children = MlflowClient(stack.mlflow_url).search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    stages = {c.info.run_name for c in children}
    assert "finetune-intent" in stages and "pretrain" not in stages and "promote" not in stages
