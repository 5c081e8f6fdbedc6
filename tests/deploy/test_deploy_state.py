"""`karpa deploy`'s bookkeeping without servers: the state file, which processes it may
stop (only its own, only while they are what it started), and what it prints."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from karpa.deploy import (
    DeployError,
    DeployState,
    Service,
    _cmdline,
    alive,
    deployment_names,
    describe,
    project_root,
    stop,
    stop_service,
)
from karpa.home import Home

from .conftest import REPO


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    deadline = time.monotonic() + 10
    while "sleep" not in _cmdline(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)  # /proc shows the command line only once exec has finished
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _state(home: Home, worker: Service) -> DeployState:
    return DeployState(
        project=str(REPO),
        home=str(home.root),
        prefect=Service("prefect-server", url="http://127.0.0.1:4200/api"),
        mlflow=Service("mlflow-server", url="http://127.0.0.1:5000", pid=1, started=False),
        worker=worker,
        deployments=deployment_names(REPO),
    )


def test_project_and_deployments_are_found():
    assert project_root(str(REPO)) == REPO
    assert deployment_names(REPO)[:3] == [
        "nightly-retrain",
        "weekly-full-pretrain",
        "validate-data",
    ]


def test_a_folder_without_prefect_yaml_is_refused(tmp_path):
    with pytest.raises(DeployError, match=r"no prefect\.yaml"):
        project_root(str(tmp_path))


def test_state_round_trips_and_stop_stops_only_what_it_started(tmp_path, sleeper):
    home = Home(tmp_path / "home").ensure()
    worker = Service("sleep-worker", pid=sleeper.pid, started=True)
    _state(home, worker).save(home)
    loaded = DeployState.load(home)
    assert loaded == _state(home, worker)
    assert alive(loaded.worker)
    # Recorded but not started by karpa (pid 1 here): never signalled.
    assert not stop_service(loaded.mlflow)
    stopped = stop(home)
    assert [s.name for s in stopped] == ["sleep-worker"]
    assert sleeper.wait(timeout=10) is not None
    assert DeployState.load(home) is None


def test_a_server_whose_launcher_exited_is_still_stopped():
    """`mlflow server` and the like may exit and leave the server they spawned running in
    their process group: it is still alive, and stopping it stops the group."""
    launcher = subprocess.Popen(
        ["sh", "-c", "sleep 60 & echo $!"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    server_pid = int(launcher.stdout.readline())
    launcher.wait(timeout=10)
    service = Service("sleep-server", pid=launcher.pid, started=True)
    try:
        assert alive(service)
        assert stop_service(service)
        assert not alive(service)
        assert (
            not Path(f"/proc/{server_pid}").exists()
            or "Z" in (Path(f"/proc/{server_pid}/stat").read_text().rsplit(")", 1)[1].split()[0])
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server_pid, signal.SIGKILL)


def test_a_recycled_pid_is_not_ours(sleeper):
    assert not alive(Service("prefect-worker", pid=sleeper.pid, started=True))


def test_describe_says_where_and_how_to_stop(tmp_path):
    home = Home(tmp_path / "home")
    text = describe(
        _state(home, Service("prefect-worker", pid=4321, started=True, log="/h/prefect-worker.log"))
    )
    assert "Prefect UI:   http://127.0.0.1:4200  (already running)" in text
    assert "karpa-retrain/validate-data" in text
    assert "karpa deploy --stop   (or: kill -TERM -- -4321)" in text
