"""Shared fixtures. The karpa home is activated before anything imports Prefect or MLflow,
so a test session never touches the developer's own `.karpa/`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from karpa.home import activate

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="karpa-test-home-"))
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ["PREFECT_HOME"] = str(_SESSION_HOME / "prefect")
activate(_SESSION_HOME)

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def prefect_api():
    """A real, temporary Prefect API for the whole session (no mocks)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh karpa home for one test, with its own MLflow SQLite store."""
    monkeypatch.setenv("KARPA_HOME", str(tmp_path / "home"))
    return activate(tmp_path / "home")


@pytest.fixture
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"public datasets not found at {SHARED_DATASETS} (present in CI)")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def fast_overrides() -> list[str]:
    """Overrides of configs/demo.yaml that run the whole pipeline in about a minute on a
    small world: a few pretraining and fine-tuning steps, fewer bootstrap resamples, and no
    quality floors (the gate still compares against the champion)."""
    return [
        "pretrain.steps=12",
        "pretrain.progress=false",
        "finetune.intent={max_steps: 12, min_steps: 4, curve_epochs: 3, curve_min_steps: 5, "
        "n_resamples: 200, curve_resamples: 50, k_shots: [5]}",
        "finetune.sentiment={max_steps: 12, min_steps: 4, curve_epochs: 3, "
        "curve_min_steps: 5, n_resamples: 200, curve_resamples: 50, k_shots: [5]}",
        "finetune.recommendation={epochs: 1, max_steps: 10, n_resamples: 200}",
        "promote.floors={intent: 0.0, sentiment: 0.0, recommendation: 0.0}",
        "promote.max_test_examples=300",
    ]
