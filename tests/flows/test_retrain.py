"""The retrain flow against a real Prefect API and a real MLflow SQLite store (no mocks)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from flows.params import RetrainParams
from flows.retrain import retrain
from karpa.config import CONFIGS
from karpa.demo import generate_world
from karpa.errors import SourceError

DEMO = str(CONFIGS / "demo.yaml")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    generate_world(out, scale=0.1, seed=3)
    return out


def _children(client: MlflowClient, parent) -> dict:
    runs = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    return {r.info.run_name: r for r in runs}


@pytest.mark.slow
def test_retrain_ingests_tracks_and_skips_unchanged(prefect_api, home, world):
    params = RetrainParams(config=DEMO, data=str(world), overrides=["until=align"])
    result = retrain(**params.model_dump())
    client = MlflowClient(home.tracking_uri)
    parent = client.get_run(result["mlflow_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["prefect.flow_run_id"]
    assert parent.data.params["data.sources.events.format"] == "parquet"
    assert not [k for k in parent.data.params if k.startswith("search.")]  # karpa search's
    ingest = _children(client, parent)["ingest"]
    for table in result["tables"]:
        stored = pq.read_metadata(table["path"]).num_rows
        assert ingest.data.metrics[f"{table['table']}.rows"] == stored == table["rows"]
    inputs = {d.dataset.name: d.dataset.digest for d in ingest.inputs.dataset_inputs}
    assert inputs == {t["table"]: t["fingerprint"] for t in result["tables"]}
    children = _children(client, parent)
    validate = children["validate"].data.metrics
    for table, counts in result["validate"].items():
        assert validate[f"{table}.rows_in"] == counts["rows_accepted"] + counts["rows_quarantined"]
    align = children["align"].data.metrics
    assert align["items.share_with_image"] > 0.5 and align["messages.test.labeled"] > 0
    assert align["views.sequences"] == result["align"]["sequences"]

    again = retrain(**params.model_dump())
    assert all(t["skipped"] for t in again["tables"])

    (world / "news.csv").write_bytes((world / "news.csv").read_bytes() + b"\n")
    third = retrain(**params.model_dump())
    changed = {t["table"] for t in third["tables"] if not t["skipped"]}
    assert changed == {"news"}


@pytest.mark.slow
def test_unreadable_source_fails_run_with_one_sentence(prefect_api, home, tmp_path):
    params = RetrainParams(config=DEMO, data=str(tmp_path / "nothing-here"))
    with pytest.raises(SourceError, match="does not exist"):
        retrain(**params.model_dump())
    client = MlflowClient(home.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("karpa").experiment_id])
    failed = [r for r in runs if r.info.status == "FAILED"]
    assert failed and "does not exist" in failed[0].data.tags["karpa.failure"]
