"""The joint multi-task fine-tune through the whole pipeline on a small demo world: one
finetune-multitask step trains it once, both text applications report it beside their
separate fine-tune and choose between the two on validation, and the chosen model is
the one that is registered and gated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from flows.params import RetrainParams
from flows.retrain import retrain
from karpa.config import CONFIGS
from karpa.demo import generate_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    generate_world(out, scale=0.15, seed=11)
    return out


@pytest.mark.slow
@pytest.mark.server
def test_joint_fine_tune_is_a_candidate_in_both_text_applications(
    prefect_api, home, world, fast_overrides
):
    overrides = [
        *fast_overrides,
        "finetune.applications=[intent, sentiment]",
        "finetune.multitask.enabled=true",
    ]
    params = RetrainParams(config=str(CONFIGS / "demo.yaml"), data=str(world), overrides=overrides)
    result = retrain(**params.model_dump())

    joint = result["multitask"]
    assert set(joint) == {"intent", "sentiment"}
    assert joint["intent"]["steps"] == joint["sentiment"]["steps"] > 0
    assert all(info["task_batches"] > 0 for info in joint.values())

    client = MlflowClient(home.tracking_uri)
    parent = client.get_run(result["mlflow_run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    run = next(c for c in children if c.info.run_name == "finetune-multitask")
    assert run.info.status == "FINISHED"
    assert run.data.metrics["intent.task_batches"] == joint["intent"]["task_batches"]
    assert "train.multitask/val_mean_macro_f1" in run.data.metrics
    assert parent.data.params["finetune.multitask.enabled"] == "True"

    for app in ("intent", "sentiment"):
        report = json.loads(Path(result["finetune"][app]["report"]).read_text())
        metric, main = report["headline"]["metric"], report["headline"]["model"]
        assert main in ("pretrained", "multitask")
        other = "multitask" if main == "pretrained" else "pretrained"
        assert other in report["comparisons"]
        val = {m: report["metrics"][f"val_{metric}/{m}"] for m in ("pretrained", "multitask")}
        assert val[main] >= val[other]
        assert report["protocol"]["main_model"].startswith(f"main model: {main}")
        # The saved model, which the gate judges and the registry holds, is the chosen one.
        meta = json.loads((Path(report["artifacts"]["model_dir"]) / "meta.json").read_text())
        assert meta["train_info"]["mode"] == ("multitask" if main == "multitask" else "full")
        assert result["promote"][f"karpa-{app}"]["version"]
