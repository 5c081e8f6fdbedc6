"""One flow per name: the deployments run the very flow that `karpa run` runs."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml
from prefect import Flow

from flows.retrain import retrain

ROOT = Path(__file__).resolve().parents[2]


def _flows() -> dict[str, list[str]]:
    """Flow name -> the `module:attribute` of every flow object defined under flows/."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "flows").glob("*.py")):
        module = importlib.import_module(f"flows.{path.stem}")
        for attr, value in vars(module).items():
            if isinstance(value, Flow) and value.__module__ == module.__name__:
                found.setdefault(value.name, []).append(f"flows/{path.name}:{attr}")
    return found


def test_each_flow_name_is_defined_once():
    flows = _flows()
    assert {name: places for name, places in flows.items() if len(places) > 1} == {}
    assert flows["karpa-retrain"] == ["flows/retrain.py:retrain"]


def test_the_retrain_deployments_run_the_cli_flow():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    entrypoints = {d["name"]: d["entrypoint"] for d in spec["deployments"]}
    for name in ("nightly-retrain", "weekly-full-pretrain", "validate-data"):
        assert entrypoints[name] == "flows/retrain.py:retrain"
    cli = (ROOT / "karpa_cli" / "main.py").read_text()
    assert "from flows.retrain import retrain" in cli
    assert retrain.name == "karpa-retrain"
