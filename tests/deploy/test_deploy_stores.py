"""`karpa deploy`'s rules for where the servers keep their state, without servers: servers
of an earlier deploy on another database or artifact destination are never reused
silently, and a failed deploy stops what it started but not what an earlier one did."""

from __future__ import annotations

import subprocess
import time

import pytest

from karpa.database import parse_database_url
from karpa.deploy import (
    DeployError,
    DeployState,
    Service,
    _cmdline,
    _stop_started,
    alive,
    deploy,
    deployment_names,
)
from karpa.home import Home

from .conftest import REPO


def _sleeper() -> subprocess.Popen:
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    deadline = time.monotonic() + 10
    while "sleep" not in _cmdline(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)  # /proc shows the command line only once exec has finished
    return proc


@pytest.fixture
def sleepers():
    procs = [_sleeper(), _sleeper()]
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _state(home: Home, server: Service, **stores) -> DeployState:
    return DeployState(
        project=str(REPO),
        home=str(home.root),
        prefect=server,
        mlflow=Service("mlflow-server"),
        worker=Service("prefect-worker"),
        deployments=deployment_names(REPO),
        **stores,
    )


@pytest.mark.parametrize(
    ("before", "now", "what"),
    [
        ({}, {"database": "postgresql://k:pw@db/karpa"}, "database the home's SQLite files"),
        ({"database": "k@db:5432/karpa"}, {}, "database k@db:5432/karpa"),
        ({"artifacts": "/srv/artifacts"}, {}, "artifact destination /srv/artifacts"),
    ],
)
def test_running_servers_on_other_stores_are_not_reused(tmp_path, sleepers, before, now, what):
    home = Home(tmp_path / "home").ensure()
    running = Service("sleep-server", pid=sleepers[0].pid, started=True)
    _state(home, running, **before).save(home)
    database = now.get("database")
    with pytest.raises(DeployError) as refused:
        deploy(
            home,
            REPO,
            database=parse_database_url(database, "--database-url") if database else None,
        )
    message = str(refused.value)
    assert f"the servers of the last karpa deploy run with the {what}" in message
    assert "karpa deploy --stop" in message and "pw" not in message
    assert alive(running)  # refused before anything was touched
    assert DeployState.load(home).prefect == running


def test_a_failed_deploy_stops_what_it_started_and_keeps_what_it_found(tmp_path, sleepers):
    home = Home(tmp_path / "home").ensure()
    earlier = Service("sleep-server", pid=sleepers[0].pid, started=True)
    previous = _state(home, earlier)
    state = _state(home, earlier)
    state.mlflow = Service("sleep-mlflow", pid=sleepers[1].pid, started=True)
    state.save(home)  # recorded as soon as it ran
    _stop_started(home, state, previous)
    assert sleepers[1].wait(timeout=20) is not None
    assert alive(earlier)
    assert DeployState.load(home) == previous  # `--stop` still stops the earlier one
    _stop_started(home, state, None)  # a first deploy that failed leaves no record
    assert DeployState.load(home) is None
