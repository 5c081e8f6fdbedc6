"""Each real-data preset, end to end through the retrain flow on a small sample, against a
real Prefect API and MLflow store (no mocks)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from flows.params import RetrainParams
from flows.retrain import retrain
from karpa.config import load_config

ROOT = Path(__file__).resolve().parents[2]
PRESETS = ROOT / "configs" / "real"
# Presets whose sample is cut from the shared datasets; the others use hand-made files.
FROM_SHARED = {"banking77", "phrasebank", "phrasebank_allagree", "movielens", "mnist"}
ID_COLUMN = {"messages": "message_id", "news": "news_id"}
ALIGN_PATCH = ("align reads all five canonical tables and a public dataset has only some; "
               "see the partial-modality align change in the real-data presets' report")


def _stage_runs(client: MlflowClient, parent_id: str) -> dict:
    parent = client.get_run(parent_id)
    runs = client.search_runs([parent.info.experiment_id],
                              f"tags.mlflow.parentRunId = '{parent_id}'")
    return {r.info.run_name: r for r in runs}


def _latest_parent(client: MlflowClient, config_name: str):
    experiment = client.get_experiment_by_name("karpa")
    runs = client.search_runs([experiment.experiment_id],
                              f"tags.`karpa.config` = '{config_name}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["banking77", "clinc150", "phrasebank", "phrasebank_allagree",
                                  "movielens", "movielens_100k", "mnist"])
def test_preset_runs_through_align_on_a_sample(name, prefect_api, home, tmp_path, request,
                                               real_files):
    shared = request.getfixturevalue("shared_datasets") if name in FROM_SHARED else None
    data = real_files["subsample"](name, shared, tmp_path / "data")
    config = PRESETS / f"{name}.yaml"
    cfg = load_config(config, data_root=str(data))
    overrides = ["until=align"]
    if cfg.validate_.contracts:  # relative to the project folder; the test may run elsewhere
        overrides.append(f"validate.contracts={ROOT / cfg.validate_.contracts}")
    params = RetrainParams(config=str(config), data=str(data), overrides=overrides)
    client = MlflowClient(home.tracking_uri)
    try:
        result = retrain(params)
    except KeyError as exc:
        # Ingest and validate ran and were recorded; align could not read a missing table.
        parent = _latest_parent(client, cfg.name)
        assert parent.info.status == "FAILED"
        _check_validate_run(_stage_runs(client, parent.info.run_id)["validate"])
        pytest.xfail(f"{ALIGN_PATCH} (missing: {exc})")
    stages = _stage_runs(client, result["mlflow_run_id"])
    assert client.get_run(result["mlflow_run_id"]).info.status == "FINISHED"
    _check_validate_run(stages["validate"])
    align = stages["align"].data
    assert align.tags["karpa.stop"] == "-"
    for table in ("messages", "news"):
        if table in cfg.data.sources:
            assert result["align"][table] == result["validate"][table]["rows_accepted"]
            assert align.metrics[f"{table}.test.labeled"] > 0
    for table in ("messages", "news"):
        hint = cfg.data.sources[table].split_from_id if table in cfg.data.sources else None
        if hint:  # the official split is kept: its test rows are exactly align's test rows
            path = next(t["path"] for t in result["tables"] if t["table"] == table)
            ids = pd.read_parquet(path)[ID_COLUMN[table]]
            official = ids.str.extract(hint)["split"]
            assert align.metrics[f"{table}.test.labeled"] == (official == "test").sum()
            assert align.metrics[f"{table}.val.labeled"] > 0
    if "events" in cfg.data.sources:
        assert align.metrics["users.evaluable"] >= 100
    if "images" in cfg.data.sources:
        assert align.metrics["images.pairs"] == result["validate"]["images"]["rows_accepted"]


def _check_validate_run(run) -> None:
    """Every row accounted for, nothing quarantined, no stop."""
    metrics = run.data.metrics
    tables = {key.split(".")[0] for key in metrics if key.endswith(".rows_in")}
    assert tables
    for table in tables:
        assert metrics[f"{table}.rows_in"] == (metrics[f"{table}.rows_accepted"]
                                               + metrics[f"{table}.rows_quarantined"])
        assert metrics[f"{table}.rows_quarantined"] == 0
    assert run.data.tags["karpa.stop"] == "-"
