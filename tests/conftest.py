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
