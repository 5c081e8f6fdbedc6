"""Each real-data preset, end to end through the retrain flow (ingest to fine-tune and
evaluation) on a small sample, against a real Prefect API and MLflow store (no mocks)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from flows.retrain import retrain
from karpa.config import CONFIGS, load_config

ROOT = Path(__file__).resolve().parents[2]
PRESETS = CONFIGS / "real"
# Presets whose sample is cut from the shared datasets; the others use hand-made files.
FROM_SHARED = {"banking77", "phrasebank", "phrasebank_allagree", "movielens", "mnist"}
ID_COLUMN = {"messages": "message_id", "news": "news_id"}


def _stage_runs(client: MlflowClient, parent_id: str) -> dict:
    parent = client.get_run(parent_id)
    runs = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    return {r.info.run_name: r for r in runs}


# A few steps of everything: the point is that each preset runs end to end, not quality.
FAST_TEXT = (
    "max_steps: 6, min_steps: 2, curve_epochs: 1, curve_min_steps: 2, n_resamples: 50, "
    "curve_resamples: 20, k_shots: [5], contrastive_steps: 4, self_training_rounds: 1, "
    "self_training_pool: 400"
)
FAST = [
    "pretrain.preset=tiny",
    "pretrain.steps=6",
    "pretrain.progress=false",
    f"finetune.intent={{{FAST_TEXT}}}",
    f"finetune.sentiment={{{FAST_TEXT}}}",
    "finetune.recommendation={epochs: 1, max_steps: 4, n_resamples: 50}",
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "banking77",
        "clinc150",
        "phrasebank",
        "phrasebank_allagree",
        "movielens",
        "movielens_100k",
        "mnist",
    ],
)
def test_preset_runs_end_to_end_on_a_sample(name, prefect_api, home, tmp_path, request, real_files):
    shared = request.getfixturevalue("shared_datasets") if name in FROM_SHARED else None
    data = real_files["subsample"](name, shared, tmp_path / "data")
    config = PRESETS / f"{name}.yaml"
    cfg = load_config(config, data_root=str(data))
    # Up to the preset's own last stage short of promotion (MNIST stops at pretrain).
    until = cfg.until if cfg.until != "promote" else "finetune"
    overrides = [*FAST, f"until={until}"]
    if cfg.validate_.contracts:  # relative to the project folder; the test may run elsewhere
        overrides.append(f"validate.contracts={ROOT / cfg.validate_.contracts}")
    result = retrain(config=str(config), data=str(data), overrides=overrides)
    client = MlflowClient(home.tracking_uri)
    stages = _stage_runs(client, result["mlflow_run_id"])
    assert "pretrain" in stages and result["pretrain"]["steps"] == 6
    if until == "finetune":
        assert set(result["finetune"]) == set(cfg.finetune.applications)
        for app in cfg.finetune.applications:
            assert f"finetune-{app}" in stages
            assert result["finetune"][app]["headline"]["estimate"] is not None
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
        assert metrics[f"{table}.rows_in"] == (
            metrics[f"{table}.rows_accepted"] + metrics[f"{table}.rows_quarantined"]
        )
        assert metrics[f"{table}.rows_quarantined"] == 0
    assert run.data.tags["karpa.stop"] == "-"
