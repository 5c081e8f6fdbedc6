"""A private fine-tune through the whole pipeline: intent fine-tuned with DP-SGD and
sentiment without, under a privacy policy for both. The spent ε and δ land in the
finetune run's MLflow metrics and parameters and in its model card; the gate records ε
on the registered version and refuses both, naming the version, its ε and the limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from flows.params import RetrainParams
from flows.retrain import retrain
from karpa.config import CONFIGS
from karpa.demo import generate_world

LIMIT = 0.5  # below what a few noisy steps on a small world spend


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    generate_world(out, scale=0.15, seed=11)
    return out


@pytest.mark.slow
@pytest.mark.server
def test_private_fine_tune_is_reported_and_gated(prefect_api, home, world, fast_overrides):
    overrides = [
        *fast_overrides,
        "finetune.applications=[intent, sentiment]",
        "finetune.intent.privacy={enabled: true, noise_multiplier: 1.0}",
        f"promote.max_epsilon={{intent: {LIMIT}, sentiment: 100}}",
    ]
    params = RetrainParams(config=str(CONFIGS / "demo.yaml"), data=str(world), overrides=overrides)
    result = retrain(**params.model_dump())

    client = MlflowClient(home.tracking_uri)
    parent = client.get_run(result["mlflow_run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    run = next(c for c in children if c.info.run_name == "finetune-intent")
    epsilon, delta = run.data.metrics["privacy.epsilon"], run.data.metrics["privacy.delta"]
    assert 0 < epsilon < float("inf") and 0 < delta < 1e-3
    assert run.data.params["privacy.enabled"] == "true"
    assert float(run.data.params["privacy.epsilon"]) == pytest.approx(epsilon)
    assert run.data.params["privacy.delta_rule"] == "1 / (10 * n_train)"
    assert "privacy.cost.accuracy.estimate" in run.data.metrics
    assert parent.data.params["finetune.intent.privacy.enabled"] == "True"
    other = next(c for c in children if c.info.run_name == "finetune-sentiment")
    assert other.data.params["privacy.enabled"] == "false"
    assert not any(k.startswith("privacy.") for k in other.data.metrics)

    card = client.download_artifacts(run.info.run_id, "evaluation/model_card.md")
    section = Path(card).read_text().split("## Privacy")[1].split("\n## ")[0]
    assert f"| ε spent | {epsilon:.3f}" in section and "cost of privacy" in section

    intent = result["promote"]["karpa-intent"]
    assert not intent["promote"]
    assert intent["reason"] == (
        f"refused: karpa-intent v{intent['version']} spent ε = {epsilon:.3f} at "
        f"δ = {delta:.2g}, above the limit promote.max_epsilon = {LIMIT:g}"
    )
    sentiment = result["promote"]["karpa-sentiment"]
    assert not sentiment["promote"]
    assert sentiment["reason"] == (
        f"refused: karpa-sentiment v{sentiment['version']} was fine-tuned without differential "
        "privacy (ε = ∞), and promote.max_epsilon allows at most ε = 100"
    )
    version = client.get_model_version("karpa-intent", intent["version"])
    figures = json.loads(version.tags["karpa.figures"])
    assert figures["epsilon"] == pytest.approx(epsilon) and figures["max_epsilon"] == LIMIT
    assert figures["private"] is True
