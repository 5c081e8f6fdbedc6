"""The whole pipeline, twice, on a small demo world: models land in the registry, the
second run's identical models are refused, the champions stay, every pyfunc model answers
raw inputs, and `mlflow models serve` answers HTTP requests from the intent and
recommender champions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from flows.params import RetrainParams
from flows.retrain import retrain
from flows.score import ScoreParams, score
from karpa.config import CONFIGS
from karpa.demo import generate_world
from karpa.servers import free_port, stop, wait_http
from karpa.tracking.registry import Registry, explaining_predictor, history, load_predictor

DEMO = str(CONFIGS / "demo.yaml")
NAMES = ("karpa-intent", "karpa-sentiment", "karpa-recommender")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    generate_world(out, scale=0.15, seed=11)
    return out


@pytest.mark.slow
@pytest.mark.server
def test_two_runs_registry_and_serving(prefect_api, home, world, tmp_path, fast_overrides):
    params = RetrainParams(config=DEMO, data=str(world), overrides=fast_overrides)
    first = retrain(**params.model_dump())
    registry = Registry(home.tracking_uri, home.root / "audit.jsonl")
    for name in NAMES:
        assert first["promote"][name]["promote"], first["promote"][name]["reason"]
        assert registry.alias_version(name, "champion") == "1"
    assert first["promote"]["karpa-foundation"]["promote"]

    second = retrain(**params.model_dump())
    for name in NAMES:
        decision = second["promote"][name]
        assert not decision["promote"] and "not above the margin" in decision["reason"]
        assert registry.alias_version(name, "champion") == "1"  # the champion stays
        assert registry.alias_version(name, "challenger") == "2"
    events = history(home.root / "audit.jsonl", "karpa-intent")
    assert [e["event"] for e in events].count("decision") == 2
    version = MlflowClient(home.tracking_uri).get_model_version("karpa-intent", "2")
    assert version.tags["karpa.decision"] == "refused"

    # Every champion answers raw inputs through its pyfunc interface.
    intent = load_predictor(home.tracking_uri, "models:/karpa-intent@champion")
    out = intent(pd.DataFrame({"text": ["where is my parcel", "tell me a joke"]}))
    assert list(out.columns) == ["label", "probability", "out_of_scope"]
    assert out["probability"].between(0, 1).all()
    sentiment = load_predictor(home.tracking_uri, "models:/karpa-sentiment@champion")
    assert sentiment(pd.DataFrame({"text": ["ACME shares soar"]}))["label"].iloc[0] in {
        "positive",
        "negative",
        "neutral",
    }
    items = pd.read_csv(world / "items.csv")["item_id"].drop_duplicates().tolist()
    recommend = load_predictor(home.tracking_uri, "models:/karpa-recommender@champion")
    top = recommend(pd.DataFrame({"history": [items[:3]], "k": [5]}))["items"].iloc[0]
    assert len(top) == 5 and not set(top) & set(items[:3])
    why = explaining_predictor(home.tracking_uri, "models:/karpa-recommender@champion")
    explained = why(pd.DataFrame({"history": [items[:3]], "k": [5]}))["explanation"].iloc[0]
    assert [e["item"] for e in explained] == list(top)
    assert {h["item"] for e in explained for h in e["history"]} <= set(items[:3])

    # Batch scoring with the champion writes one answer per input row.
    source = tmp_path / "headlines.csv"
    pd.DataFrame({"text": ["ACME profit jumps", "Globex shares slump", "Verto names CFO"]}).to_csv(
        source, index=False
    )
    scored = score(
        ScoreParams(
            application="sentiment", input=str(source), output=str(tmp_path / "scored.parquet")
        )
    )
    table = pd.read_parquet(scored["output"])
    assert len(table) == 3 and set(table["label"]) <= {"positive", "negative", "neutral"}
    assert (table["model"] == "karpa-sentiment/1").all()

    _finetune_from_champion(home, world, registry, fast_overrides)

    # `mlflow models serve` on two champions at once, each started on a free port and
    # stopped by pid: the intent model, and the recommender with the scores it ranked by.
    served: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        for name in ("karpa-intent", "karpa-recommender"):
            served[name] = _serve(f"models:/{name}@champion", home, tmp_path)
        for proc, port in served.values():
            wait_http(f"http://127.0.0.1:{port}/ping", proc, timeout=120)
        port = served["karpa-intent"][1]
        body = {"dataframe_split": {"columns": ["text"], "data": [["my card was charged twice"]]}}
        prediction = _invoke(port, body)[0]
        assert set(prediction) == {"label", "probability", "out_of_scope"}
        # The explain predict param (the signature's params schema) reaches the model.
        why = _invoke(port, body | {"params": {"explain": True}})[0]["explanation"]
        assert why["words"] and why["nearest"], why
        assert {"word", "attribution"} == set(why["words"][0])

        rows = [[items[:3], 5], [["no-such-item"], 3]]
        known, unknown = _invoke(
            served["karpa-recommender"][1],
            {"dataframe_split": {"columns": ["history", "k"], "data": rows}},
        )
        local = recommend(pd.DataFrame({"history": [items[:3]], "k": [5]})).iloc[0]
        assert known["items"] == list(local["items"]) and known["source"] == "model"
        assert known["scores"] == pytest.approx(list(local["scores"]), rel=1e-5)
        assert unknown["source"].startswith("popularity fallback") and len(unknown["items"]) == 3
    finally:
        for proc, _ in served.values():
            stop(proc)


def _serve(model_uri: str, home, tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """`mlflow models serve` of `model_uri` on a free port -> (process, port)."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("mlflow")),
            "models",
            "serve",
            "-m",
            model_uri,
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        # mlflow execs `uvicorn` by name: the venv's bin folder must be on PATH.
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": home.tracking_uri,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
        stdout=open(log, "wb"),  # noqa: SIM115 - the server owns it
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, port


def _invoke(port: int, body: dict) -> list[dict]:
    """POST `body` to a served model's /invocations -> its predictions."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["predictions"]


def _finetune_from_champion(
    home, world: Path, registry: Registry, fast_overrides: list[str]
) -> None:
    """An on-demand fine-tune starts from the champion foundation without pretraining, even
    when this home no longer has its checkpoint (it is fetched from the registry), and only
    the fine-tuned application goes through the gate."""
    champion = registry.alias_info("karpa-foundation", "champion")
    checkpoints = list((home.store / "foundations").rglob("*.pt"))
    assert checkpoints
    for path in checkpoints:  # as on a machine that never pretrained
        path.rename(path.with_suffix(".moved"))
    result = retrain(
        config=DEMO,
        data=str(world),
        application="intent",
        # A changed setting, so the intent model is trained again rather than reused.
        overrides=[
            *fast_overrides,
            "finetune.foundation=champion",
            "finetune.intent.max_steps=10",
        ],
    )
    assert result["pretrain"]["champion_version"] == str(champion.version)
    assert list(result["finetune"]) == ["intent"]
    assert set(result["promote"]) == {"karpa-intent"}  # the foundation is not re-registered
    assert result["promote"]["karpa-intent"]["version"] == "3"
    fetched = home.store / "registry" / f"karpa-foundation-v{champion.version}"
    assert list(fetched.rglob("*.pt"))

    client = MlflowClient(home.tracking_uri)
    parent = client.get_run(result["mlflow_run_id"])
    assert parent.data.params["finetune.foundation"] == "champion"
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    names = {c.info.run_name for c in children}
    assert "pretrain" not in names and {"foundation", "finetune-intent"} <= names
    finetuned = next(c for c in children if c.info.run_name == "finetune-intent")
    assert finetuned.data.tags["karpa.foundation_run_id"] == champion.run_id
