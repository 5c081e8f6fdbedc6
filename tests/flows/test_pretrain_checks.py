"""The pretrain stage's downstream checks through the retrain flow: curves with steps in
the pretrain run, the rule as its parameters, and the verdict in the flow's result."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from flows.params import RetrainParams
from flows.retrain import retrain
from karpa.config import CONFIGS
from karpa.demo import generate_world

DEMO = str(CONFIGS / "demo.yaml")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    generate_world(out, scale=0.1, seed=4)
    return out


@pytest.mark.slow
def test_checks_are_logged_per_step_and_choose_the_foundation(prefect_api, home, world):
    params = RetrainParams(
        config=DEMO,
        data=str(world),
        overrides=[
            "until=pretrain",
            "pretrain.steps=12",
            "pretrain.progress=false",
            "pretrain.checks={every: 6, k: 5, repeats: 2, max_val: 100}",
        ],
    )
    result = retrain(**params.model_dump())
    client = MlflowClient(home.tracking_uri)
    parent = client.get_run(result["mlflow_run_id"])
    runs = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    pretrain = next(r for r in runs if r.info.run_name == "pretrain")
    for name in ("probe.intent", "probe.sentiment", "retrieval", "next_item", "combined"):
        history = client.get_metric_history(pretrain.info.run_id, f"check.{name}")
        assert sorted(m.step for m in history) == [0, 6, 12], name
    assert pretrain.data.params["checks.every"] == "6"
    assert pretrain.data.params["checks.combine"] == "mean"
    kept = pretrain.data.metrics["checks.kept_step"]
    assert kept in (0.0, 6.0, 12.0)
    sentence = result["pretrain"]["foundation"]
    if kept == 0:
        assert "the foundation is the co-occurrence start" in sentence  # the tiny preset's
    else:
        assert sentence.startswith(f"The foundation is the checkpoint of step {int(kept)}")
