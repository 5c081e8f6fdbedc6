"""The first `karpa run` on a brand-new home, as a new user meets it: a cold start of the
embedded Prefect API (a new database, a fresh byte-code cache) on a busy 2-core machine
completes; a server that does not answer in time is one sentence, with nothing started
and nothing left running. Each case runs the real CLI in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from karpa.config import CONFIGS
from karpa.demo import generate_world
from karpa.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.server]

DEMO_CONFIG = str(CONFIGS / "demo.yaml")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("first-run") / "world"
    generate_world(out, scale=0.1, seed=0)
    return out


@pytest.fixture
def busy_cpus() -> Iterator[None]:
    """Two processes that keep both cores busy while the test runs, stopped by pid."""
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
        for _ in range(2)
    ]
    try:
        yield
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()


def test_first_run_on_a_new_home_with_cold_caches_under_load_completes(
    world, tmp_path, busy_cpus, shell
):
    """The first `karpa run` on a new home, with cold byte-code caches and both cores busy,
    completes."""
    home = tmp_path / "home"
    # A byte-code cache of its own: every module compiles afresh, as after a new install.
    done = shell.run(
        [
            "--home",
            str(home),
            "run",
            "--config",
            DEMO_CONFIG,
            "--data",
            str(world),
            "--set",
            "until=ingest",
        ],
        tmp_path,
        timeout=900,
        PYTHONPYCACHEPREFIX=str(tmp_path / "pycache"),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "MLflow run:" in done.stdout
    assert "preparing the Prefect database" in done.stdout + done.stderr
    assert (home / "prefect" / "prefect.db").is_file()
    shell.assert_nothing_left()


def test_an_embedded_server_that_does_not_answer_is_one_sentence(world, tmp_path, shell):
    """An embedded Prefect API that does not answer in time is one sentence naming the setting to
    raise, with no run started and nothing left running."""
    home = tmp_path / "home"
    done = shell.run(
        [
            "--home",
            str(home),
            "run",
            "--config",
            DEMO_CONFIG,
            "--data",
            str(world),
            "--set",
            "until=ingest",
        ],
        tmp_path,
        timeout=600,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1",
    )
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        f"karpa: error: the embedded Prefect API server did not answer within 1 s (home "
        f"{home}); raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or set "
        "PREFECT_API_URL to a running Prefect server"
    )
    assert not (home / "mlflow.db").exists()  # no MLflow run was opened, none left RUNNING
    shell.assert_nothing_left()


def test_a_database_that_takes_too_long_is_one_sentence_and_not_left_half_made(
    world, tmp_path, shell
):
    """Creating the Prefect database past the timeout is one sentence naming KARPA_SERVER_TIMEOUT,
    and no half-made database is left."""
    home = tmp_path / "home"
    done = shell.run(
        [
            "--home",
            str(home),
            "--server-timeout",
            "0.5",
            "run",
            "--config",
            DEMO_CONFIG,
            "--data",
            str(world),
        ],
        tmp_path,
        timeout=600,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"karpa: error: creating the Prefect database {home / 'prefect' / 'prefect.db'} took "
        f"longer than 0.5 s; raise KARPA_SERVER_TIMEOUT (see {home / 'prefect-database.log'})"
    )
    assert not (home / "prefect" / "prefect.db").exists()
    shell.assert_nothing_left()


def test_ui_servers_that_do_not_answer_are_one_sentence_and_stopped(tmp_path, shell):
    """UI servers that do not answer in time are one sentence, and are stopped."""
    home = tmp_path / "home"
    (home / "prefect").mkdir(parents=True)
    (home / "prefect" / "prefect.db").touch()  # a database that exists is not made first
    done = shell.run(
        [
            "--home",
            str(home),
            "--server-timeout",
            "0.5",
            "ui",
            "--prefect-port",
            str(free_port()),
            "--mlflow-port",
            str(free_port()),
        ],
        tmp_path,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("karpa: error: the Prefect UI server (log ")
    assert last.endswith("within 0.5 s; raise KARPA_SERVER_TIMEOUT")
    shell.assert_nothing_left()
