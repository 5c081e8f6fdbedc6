"""Shared fixtures. The karpa home is activated before anything imports Prefect or MLflow,
so a test session never touches the developer's own `.karpa/`."""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from karpa.home import activate, ephemeral_server_timeout

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="karpa-test-home-"))
# Gone when the session ends (its servers have stopped by then), not left in /tmp per run.
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ["PREFECT_HOME"] = str(_SESSION_HOME / "prefect")
activate(_SESSION_HOME)

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def pytest_configure(config: pytest.Config) -> None:
    # Loaded by path: with --import-mode=importlib the tests folder is not on sys.path.
    spec = importlib.util.spec_from_file_location(
        "karpa_store_guard", Path(__file__).with_name("store_guard.py")
    )
    guard = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guard)
    config.pluginmanager.register(guard, "karpa-store-guard")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """One intra-op torch thread for the whole session, set before any fixture of any
    scope runs. The tests' tensors are tiny, and on two cores that another process keeps
    busy, two threads make every OpenMP region wait for a descheduled thread: a module
    fixture fitting linear probes ran over 17 minutes instead of seconds. (A function-scoped
    fixture is too late: module and session fixtures are set up before it.)"""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def prefect_api():
    """A real, temporary Prefect API for the whole session (no mocks)."""
    from prefect.testing.utilities import prefect_test_harness

    # The wait karpa gives Prefect's embedded server (180 s unless set): on two shared,
    # busy cores the server has taken more than a minute to answer.
    wait = math.ceil(ephemeral_server_timeout().seconds)
    with prefect_test_harness(server_startup_timeout=wait):
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


# The text applications' settings in fast_overrides (intent and sentiment alike).
FAST_TEXT = (
    "max_steps: 12, min_steps: 4, curve_epochs: 3, curve_min_steps: 5, n_resamples: 200, "
    "curve_resamples: 50, k_shots: [5], max_test_examples: 300, robustness_sample: 100, "
    "contrastive_steps: 4, self_training_rounds: 1, self_training_pool: 400"
)


@pytest.fixture(scope="session")
def fast_overrides() -> list[str]:
    """Overrides of configs/demo.yaml that run the whole pipeline in about a minute on a
    small world: a few pretraining and fine-tuning steps, fewer bootstrap resamples, and no
    quality floors (the gate still compares against the champion). Every learning-curve
    candidate still runs, with a few contrastive steps and one self-training round on a
    small pool: those two were half of each text fine-tune's time here."""
    return [
        "pretrain.steps=12",
        "pretrain.progress=false",
        f"finetune.intent={{{FAST_TEXT}}}",
        f"finetune.sentiment={{{FAST_TEXT}}}",
        "finetune.recommendation={epochs: 1, max_steps: 10, n_resamples: 200, max_test_users: 300, "
        "robustness_users: 100}",
        "promote.floors={intent: 0.0, sentiment: 0.0, recommendation: 0.0}",
        "promote.robustness_sample=100",
    ]


class UserShell:
    """A new user's shell for running the `karpa` command in a subprocess: none of this
    session's Prefect, MLflow or karpa settings, and a marker in the environment that every
    process the command starts inherits, so a test can find whatever it left running."""

    VAR = "KARPA_TEST_PROCESS_MARKER"
    # `python -m karpa_cli`: this checkout's CLI, whatever the installed script points at.
    KARPA = (sys.executable, "-m", "karpa_cli")

    def __init__(self) -> None:
        self.marker = uuid.uuid4().hex
        clean = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PREFECT_", "KARPA_", "MLFLOW_"))
        }
        self.env = {**clean, self.VAR: self.marker}

    def run(self, args: list[str], cwd: Path, timeout: float, **extra_env: str):
        return subprocess.run(
            [*self.KARPA, *args],
            env={**self.env, **extra_env},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def start(self, args: list[str], cwd: Path | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            [*self.KARPA, *args],
            env=self.env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    def processes(self) -> list[int]:
        """Live processes (zombies left out) whose environment carries the marker."""
        needle = f"{self.VAR}={self.marker}".encode()
        found = []
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                marked = needle in (entry / "environ").read_bytes().split(b"\0")
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if marked and state != "Z":
                    found.append(int(entry.name))
            except OSError:
                continue  # gone meanwhile, or not ours to read
        return found

    def assert_nothing_left(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while (left := self.processes()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"processes left running: {left}"


@pytest.fixture
def shell() -> Iterator[UserShell]:
    """A `UserShell`; whatever its commands left running is killed when the test ends, also
    when it failed half-way (a SIGKILLed run's orphaned server, say)."""
    user = UserShell()
    yield user
    for pid in user.processes():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
