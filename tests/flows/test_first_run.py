"""The first `karpa run` on a brand-new home, as a new user meets it: a cold start of the
embedded Prefect API (a new database, a fresh byte-code cache) on a busy 2-core machine
completes; a server that does not answer in time is one sentence, with nothing started
and nothing left running. Each case runs the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from karpa.demo import generate_world
from karpa.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.server]

KARPA = str(Path(sys.executable).with_name("karpa"))
DEMO_CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml")
MARKER = "KARPA_TEST_PROCESS_MARKER"


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


def _fresh_env(marker: str, **extra: str) -> dict[str, str]:
    """The environment of a new user's shell: no Prefect, MLflow or karpa settings from this
    test session, and a marker that every process the command starts inherits."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "KARPA_", "MLFLOW_"))}
    return {**env, MARKER: marker, **extra}


def _karpa(args: list[str], env: dict[str, str], cwd: Path, timeout: float):
    return subprocess.run([KARPA, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _processes_with(marker: str) -> list[int]:
    """Process ids whose environment carries the marker: whatever the command started."""
    found = []
    needle = f"{MARKER}={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def _assert_nothing_left(marker: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (left := _processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes left running: {left}"


def test_first_run_on_a_new_home_with_cold_caches_under_load_completes(
        world, tmp_path, busy_cpus):
    marker = uuid.uuid4().hex
    home = tmp_path / "home"
    # A byte-code cache of its own: every module compiles afresh, as after a new install.
    env = _fresh_env(marker, PYTHONPYCACHEPREFIX=str(tmp_path / "pycache"))
    done = _karpa(["--home", str(home), "run", "--config", DEMO_CONFIG, "--data", str(world),
                   "--set", "until=ingest"], env, tmp_path, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "MLflow run:" in done.stdout
    assert "preparing the Prefect database" in done.stdout + done.stderr
    assert (home / "prefect" / "prefect.db").is_file()
    _assert_nothing_left(marker)


def test_an_embedded_server_that_does_not_answer_is_one_sentence(world, tmp_path):
    """Prefect's own variable wins over karpa's setting, and names itself in the sentence;
    the run has not started: no MLflow store, no process left."""
    marker = uuid.uuid4().hex
    home = tmp_path / "home"
    env = _fresh_env(marker, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1")
    done = _karpa(["--home", str(home), "run", "--config", DEMO_CONFIG, "--data", str(world),
                   "--set", "until=ingest"], env, tmp_path, timeout=600)
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        f"karpa: error: the embedded Prefect API server did not answer within 1 s (home "
        f"{home}); raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or set "
        "PREFECT_API_URL to a running Prefect server"
    )
    assert not (home / "mlflow.db").exists()  # no MLflow run was opened, none left RUNNING
    _assert_nothing_left(marker)


def test_a_database_that_takes_too_long_is_one_sentence_and_not_left_half_made(
        world, tmp_path):
    marker = uuid.uuid4().hex
    home = tmp_path / "home"
    done = _karpa(["--home", str(home), "--server-timeout", "0.5", "run",
                   "--config", DEMO_CONFIG, "--data", str(world)],
                  _fresh_env(marker), tmp_path, timeout=600)
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"karpa: error: creating the Prefect database {home / 'prefect' / 'prefect.db'} took "
        f"longer than 0.5 s; raise KARPA_SERVER_TIMEOUT (see {home / 'prefect-database.log'})"
    )
    assert not (home / "prefect" / "prefect.db").exists()
    _assert_nothing_left(marker)


def test_ui_servers_that_do_not_answer_are_one_sentence_and_stopped(tmp_path):
    marker = uuid.uuid4().hex
    home = tmp_path / "home"
    env = _fresh_env(marker)
    (home / "prefect").mkdir(parents=True)
    (home / "prefect" / "prefect.db").touch()  # a database that exists is not made first
    done = _karpa(["--home", str(home), "--server-timeout", "0.5", "ui",
                   "--prefect-port", str(free_port()), "--mlflow-port", str(free_port())],
                  env, tmp_path, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("karpa: error: the Prefect UI server (log ")
    assert last.endswith("within 0.5 s; raise KARPA_SERVER_TIMEOUT")
    _assert_nothing_left(marker)
