"""The deployed retrain flow in-process, against a real Prefect API and MLflow SQLite store:
its summary artifact, the parent run's headline metrics, and a failure told in one
sentence, recorded for on-call and tagged in MLflow."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from mlflow.tracking import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterStartTime
from prefect.client.schemas.sorting import FlowRunSort

from flows.hooks import FAILURES_FILE, SUMMARY_KEY
from flows.retrain import retrain
from karpa.config import CONFIGS
from karpa.demo import generate_world
from karpa.errors import SourceError

DEMO = str(CONFIGS / "demo.yaml")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    generate_world(out, scale=0.1, seed=5)
    return out


def _artifacts(flow_run_id) -> dict:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {a.key: a for a in found}


def _latest_flow_run(started_after: dt.datetime):
    """The newest flow run that started after `started_after`: other tests of this process
    may have left runs in the same API, some scheduled for later and never started."""
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=started_after)),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )[0]


@pytest.mark.slow
def test_run_publishes_summary_and_headline_metrics(prefect_api, home, world):
    result = retrain(config=DEMO, data=str(world), until="validate")
    client = MlflowClient(home.tracking_uri)
    parent = client.get_run(result["mlflow_run_id"])
    flow_run_id = parent.data.tags["prefect.flow_run_id"]
    metrics = parent.data.metrics
    assert metrics["rows.in"] == metrics["rows.accepted"] + metrics["rows.quarantined"] > 0
    assert metrics["seconds.validate"] > 0 and metrics["seconds.total"] > 0
    assert parent.data.params["until"] == "validate"

    artifacts = _artifacts(flow_run_id)
    assert result["mlflow_run_id"] in artifacts["mlflow-run"].data
    summary = artifacts[SUMMARY_KEY].data
    assert ": completed" in summary and "| validate | completed |" in summary
    for table, counts in result["validate"].items():
        assert f"| {table} | {counts['rows_in']:,} |" in summary
    assert not (home.root / FAILURES_FILE).exists()


@pytest.mark.slow
def test_failed_run_says_why_in_one_sentence_and_tells_on_call(prefect_api, home, tmp_path):
    missing = tmp_path / "no-such-folder"
    before = dt.datetime.now(dt.UTC)
    with pytest.raises(SourceError, match="does not exist"):
        retrain(config=DEMO, data=str(missing))
    flow_run = _latest_flow_run(before)
    assert flow_run.state.is_failed()
    message = flow_run.state.message
    assert "does not exist" in message and str(missing) in message
    assert "\n" not in message and "encountered an exception" not in message

    lines = (home.root / FAILURES_FILE).read_text().splitlines()
    record = json.loads(lines[-1])
    assert record["flow_run_id"] == str(flow_run.id)
    assert record["reason"] == message and record["stage"] == "ingest"

    parent = MlflowClient(home.tracking_uri).get_run(record["mlflow_run_id"])
    assert parent.info.status == "FAILED"
    assert parent.data.tags["karpa.failed_stage"] == "ingest"
    assert parent.data.tags["karpa.failure"] == message
    summary = _artifacts(flow_run.id)[SUMMARY_KEY].data
    assert f"**Why:** {message}" in summary and "| ingest | failed |" in summary
