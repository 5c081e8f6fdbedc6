"""`pretrain.nproc_per_node=2` through the retrain flow: the pretrain task launches a
two-process torchrun (gloo, CPU) and the foundation, its loss curve and its checks land
in the pretrain child run as they do from one process."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from flows.params import RetrainParams
from flows.retrain import retrain
from karpa.config import CONFIGS
from karpa.demo import generate_world
from karpa.tracking.registry import load_predictor

MICRO = """\
model:
  embed_dim: 32
  text: {vocab_size: 400, max_len: 24, width: 32, layers: 1, heads: 2, mlp_ratio: 2}
  image: {image_size: 32, patch_size: 8, width: 32, layers: 1, heads: 2, mlp_ratio: 2}
  behaviour: {max_len: 8, width: 32, layers: 1, heads: 2, mlp_ratio: 2}
train: {steps: 6, warmup_steps: 1, batch_text: 16, batch_pairs: 16, batch_sequences: 8,
        batch_items: 16, text_views: crops, log_every: 2}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    generate_world(out / "data", scale=0.1, seed=4)
    (out / "micro.yaml").write_text(MICRO)
    return out


@pytest.mark.slow
def test_the_pretrain_task_runs_torchrun_and_logs_what_one_process_logs(prefect_api, home, world):
    params = RetrainParams(
        config=str(CONFIGS / "demo.yaml"),
        data=str(world / "data"),
        overrides=[
            "until=pretrain",
            f"pretrain.preset={world / 'micro.yaml'}",
            "pretrain.progress=false",
            "pretrain.device=cpu",
            "pretrain.nproc_per_node=2",
            "pretrain.checks={every: 3, k: 5, repeats: 1, max_val: 60}",
        ],
    )
    result = retrain(**params.model_dump())
    assert result["pretrain"]["steps"] == 6 and not result["pretrain"]["skipped"]
    client = MlflowClient(home.tracking_uri)
    parent = client.get_run(result["mlflow_run_id"])
    assert parent.data.params["pretrain.nproc_per_node"] == "2"
    runs = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    pretrain = next(r for r in runs if r.info.run_name == "pretrain")
    assert pretrain.info.status == "FINISHED"
    steps = lambda name: sorted(  # noqa: E731
        m.step for m in client.get_metric_history(pretrain.info.run_id, name)
    )
    assert steps("loss.total") == [2, 4, 6]  # rank 0's reports, once each
    assert steps("check.combined") == [0, 3, 6]
    assert pretrain.data.metrics["checks.kept_step"] in (0.0, 3.0, 6.0)
    # The foundation was logged as a model that embeds raw inputs, and it loads.
    predict = load_predictor(home.tracking_uri, parent.data.tags["karpa.foundation_model_uri"])
    vectors = predict(
        pd.DataFrame([{"text": "where is my order", "image": None, "item_idx": None}])
    )
    assert len(vectors) == 1
