"""A private fine-tune through the whole pipeline: intent fine-tuned with DP-SGD and
sentiment without, under a privacy policy for both. The spent ε and δ land in the
finetune run's MLflow metrics and parameters and in its model card; the gate records ε
on the registered version and refuses both, naming the version, its ε and the limit.

The same run also extends tests/reliability/test_pii_everywhere.py (which stops after
validate) to every stage: the personal data the demo world plants in its messages is in
no file the run wrote (store, quarantine, MLflow artifacts and models, registry, audit
log) and not in the Prefect database."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
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


def _leaks(folder: Path, values: list[str]) -> list[str]:
    """`file: value` for every planted value in a file under `folder` (Parquet read, since
    its pages are compressed; every other file searched byte for byte)."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            text = "\n".join(
                str(v)
                for name in table.column_names
                if not pa.types.is_binary(table[name].type)
                for v in table[name].to_pylist()
                if v is not None
            )
            found += [f"{path}: {v}" for v in values if v in text]
        else:
            data = path.read_bytes()
            found += [f"{path}: {v}" for v in values if v.encode() in data]
    return found


def _prefect_database() -> Path:
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
    url = str(url.get_secret_value() if hasattr(url, "get_secret_value") else url or "")
    return Path(url.split("///", 1)[1])


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

    # No personal value that validation scrubbed is in anything any stage wrote.
    planted = json.loads((world / "world.json").read_text())["defects"]["messages_pii"]
    values = [v for kind in planted.values() for v in kind["values"]]
    assert len(values) >= 8
    assert len(_leaks(world, values)) >= len(set(values))  # the search finds what is there
    written = [p for p in home.root.rglob("*") if p.is_file()]
    assert any(home.artifacts in p.parents and p.name == "model_card.html" for p in written)
    assert any(home.artifacts in p.parents and "input_example" in p.name for p in written)
    assert _leaks(home.root, values) == []
    assert _leaks(_prefect_database().parent, values) == []
