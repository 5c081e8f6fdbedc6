"""`finetune.concurrency=2` through the retrain flow: the applications fine-tune at once,
each in its own process and MLflow child run, and reach exactly what the sequential run
reaches for the same seeds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from flows.params import RetrainParams
from flows.retrain import retrain
from karpa.config import CONFIGS, load_config
from karpa.cpu_share import threads_per_job
from karpa.demo import generate_world
from karpa.errors import ConfigError

MICRO = """\
model:
  embed_dim: 32
  text: {vocab_size: 400, max_len: 24, width: 32, layers: 1, heads: 2, mlp_ratio: 2}
  image: {image_size: 32, patch_size: 8, width: 32, layers: 1, heads: 2, mlp_ratio: 2}
  behaviour: {max_len: 8, width: 32, layers: 1, heads: 2, mlp_ratio: 2}
train: {steps: 4, warmup_steps: 1, batch_text: 16, batch_pairs: 16, batch_sequences: 8,
        batch_items: 16, text_views: crops, log_every: 2}
"""


def test_the_cores_are_shared_evenly():
    assert threads_per_job(2, cores=2) == 1
    assert threads_per_job(3, cores=8) == 2
    assert threads_per_job(4, cores=2) == 1  # never none


def test_concurrency_is_one_by_default_and_bounded():
    assert load_config("demo").finetune.concurrency == 1
    with pytest.raises(ConfigError, match=r"finetune.concurrency: .*greater than or equal to 1"):
        load_config("demo", ["finetune.concurrency=0"])
    with pytest.raises(ConfigError, match=r"finetune.concurrency: .*less than or equal to 16"):
        load_config("demo", ["finetune.concurrency=17"])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    generate_world(out / "data", scale=0.1, seed=5)
    (out / "micro.yaml").write_text(MICRO)
    return out


def _children(client: MlflowClient, parent_id: str) -> dict:
    parent = client.get_run(parent_id)
    runs = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    return {r.info.run_name: r for r in runs}


def _report(result: dict, app: str) -> dict:
    """The application's evaluation report without what names its folder or its time."""
    report = json.loads(Path(result["finetune"][app]["report"]).read_text())
    return json.loads(
        json.dumps({k: v for k, v in report.items() if "seconds" not in k and "path" not in k})
    )


@pytest.mark.slow
def test_concurrent_fine_tunes_match_the_sequential_run(prefect_api, home, world, fast_overrides):
    base = [
        *fast_overrides,
        f"pretrain.preset={world / 'micro.yaml'}",
        "pretrain.device=cpu",
        "finetune.device=cpu",
        "until=finetune",
        "finetune.applications=[intent, sentiment]",
    ]
    params = RetrainParams(config=str(CONFIGS / "demo.yaml"), data=str(world / "data"))
    first = retrain(**params.model_copy(update={"overrides": base}).model_dump())
    # The fine-tunes are cached by their inputs: forget them, keep the foundation.
    shutil.rmtree(home.store / "apps")
    second = retrain(
        **params.model_copy(update={"overrides": [*base, "finetune.concurrency=2"]}).model_dump()
    )
    client = MlflowClient(home.tracking_uri)
    assert client.get_run(second["mlflow_run_id"]).data.params["finetune.concurrency"] == "2"
    before = _children(client, first["mlflow_run_id"])
    after = _children(client, second["mlflow_run_id"])
    # They ran at once: each started before the other ended.
    intent, sentiment = after["finetune-intent"].info, after["finetune-sentiment"].info
    assert intent.start_time < sentiment.end_time and sentiment.start_time < intent.end_time
    intent, sentiment = before["finetune-intent"].info, before["finetune-sentiment"].info
    assert intent.end_time <= sentiment.start_time  # and one after the other before
    for app in ("intent", "sentiment"):
        assert second["finetune"][app]["headline"] == first["finetune"][app]["headline"], app
        assert _report(second, app) == _report(first, app), app
        run_before, run_after = before[f"finetune-{app}"], after[f"finetune-{app}"]
        assert run_after.info.status == "FINISHED"
        assert run_after.info.run_id != run_before.info.run_id
        curve = [k for k in run_before.data.metrics if k.startswith("train.")]
        assert curve, "no training curve logged"
        for key in curve:
            old = client.get_metric_history(run_before.info.run_id, key)
            new = client.get_metric_history(run_after.info.run_id, key)
            assert [(m.step, m.value) for m in new] == [(m.step, m.value) for m in old], key
