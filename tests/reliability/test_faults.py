"""Faults a careless or unlucky user causes, tried on the real CLI in subprocesses: a
`karpa run` killed with SIGKILL or SIGTERM, `karpa ui` stopped with SIGTERM, two runs
started at once on one home. Nothing is left RUNNING or running, and nothing is lost."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from karpa.config import CONFIGS
from karpa.demo import generate_world
from karpa.home import Home
from karpa.run_lock import exclusive_run, holder
from karpa.servers import free_port, orphaned_embedded_servers

pytestmark = [pytest.mark.slow, pytest.mark.server]

DEMO_CONFIG = str(CONFIGS / "demo.yaml")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faults") / "world"
    generate_world(out, scale=0.1, seed=0)
    return out


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _rows(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []  # the tables are not made yet


def _start_run(shell, home: Path, world: Path, *extra: str) -> subprocess.Popen:
    return shell.start(
        ["--home", str(home), "run", "--config", DEMO_CONFIG, "--data", str(world), *extra]
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_stopped_run_is_marked_failed_in_mlflow_and_prefect_and_leaves_nothing_running(
    world, tmp_path, sig, shell
):
    """A `karpa run` killed with SIGTERM closes its runs and servers; one killed with SIGKILL is
    closed as failed by the next run, which completes; nothing is left running."""
    home = tmp_path / "home"
    mlflow_db, prefect_db = home / "mlflow.db", home / "prefect" / "prefect.db"
    first = _start_run(shell, home, world, "--set", "until=pretrain")
    # Read its output all along: a pipe nobody reads fills up (64 KiB of log lines) and
    # blocks the run's next write, so it could not unwind when stopped.
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(first.stdout), daemon=True)
    reader.start()
    try:
        _wait_for(
            lambda: _rows(mlflow_db, "select run_uuid from runs where status='RUNNING'"),
            600,
            "the first run's MLflow run to start",
        )
        first.send_signal(sig)
        first.wait(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    reader.join(timeout=30)
    if sig == signal.SIGTERM:  # it unwound: its own runs are closed and its server stopped
        left = _rows(mlflow_db, "select run_uuid from runs where status='RUNNING'")
        assert not left, f"exit {first.returncode}, runs left RUNNING; it said:\n" + "".join(
            lines[-150:]
        )
        shell.assert_nothing_left()
    else:  # nothing could run: its runs stay RUNNING and its server orphaned, until...
        assert _rows(prefect_db, "select id from flow_run where state_type='RUNNING'")
        assert orphaned_embedded_servers(Home(home))

    second = _start_run(shell, home, world, "--set", "until=ingest")
    out, _ = second.communicate(timeout=600)
    assert second.returncode == 0, out[-3000:]
    assert not _rows(mlflow_db, "select run_uuid from runs where status='RUNNING'")
    assert not _rows(
        prefect_db, "select id from flow_run where state_type in ('RUNNING', 'PENDING')"
    )
    if sig == signal.SIGKILL:
        assert "a run on this home stopped without finishing" in out
        failed = _rows(mlflow_db, "select value from tags where key='karpa.failure'")
        assert any("stopped before it finished" in v for (v,) in failed)
        assert _rows(prefect_db, "select id from flow_run where state_type='CRASHED'")
    shell.assert_nothing_left()


def test_sigterm_to_karpa_ui_stops_both_servers(tmp_path, shell):
    """SIGTERM to `karpa ui` stops its Prefect and MLflow servers."""
    ui = shell.start(
        [
            "--home",
            str(tmp_path / "home"),
            "ui",
            "--prefect-port",
            str(free_port()),
            "--mlflow-port",
            str(free_port()),
        ]
    )
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(ui.stdout), daemon=True)
        reader.start()
        _wait_for(lambda: any("Press Ctrl-C" in line for line in lines), 600, "both UIs to answer")
        assert len(shell.processes()) >= 3  # karpa ui and at least the two servers
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=60) != 0
    finally:
        if ui.poll() is None:
            ui.kill()
            ui.wait()
    shell.assert_nothing_left()


def test_a_second_run_on_one_home_waits_for_the_first_and_says_for_whom(tmp_path, caplog):
    """A second run on the same home waits for the first, logging which process it waits for, then
    runs."""
    home = Home(tmp_path / "home").ensure()
    release = tmp_path / "release"
    script = (
        "import sys, time; from pathlib import Path; from karpa.home import Home;"
        "from karpa.run_lock import exclusive_run\n"
        f"with exclusive_run(Home(Path({str(home.root)!r}))):\n"
        "    print('held', flush=True)\n"
        f"    while not Path({str(release)!r}).exists(): time.sleep(0.05)\n"
    )
    first = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "held"
        assert holder(home)["pid"] == first.pid
        events: list[str] = []

        def second() -> None:
            with exclusive_run(home):
                events.append("second entered")

        thread = threading.Thread(target=second)
        with caplog.at_level("INFO", logger="karpa.run_lock"):
            thread.start()
            _wait_for(
                lambda: "another karpa run holds the home" in caplog.text, 60, "the waiting line"
            )
            assert f"pid {first.pid}" in caplog.text
            assert not events
            events.append("first released")
            release.touch()
            thread.join(timeout=60)
        assert events == ["first released", "second entered"]
        assert holder(home)["pid"] == os.getpid()
    finally:
        release.touch()
        first.wait(timeout=60)


def test_a_killed_holder_does_not_block_the_next_run(tmp_path):
    """A run killed while holding the home's lock does not block the next one."""
    home = Home(tmp_path / "home").ensure()
    script = (
        "import time; from pathlib import Path; from karpa.home import Home;"
        "from karpa.run_lock import exclusive_run\n"
        f"with exclusive_run(Home(Path({str(home.root)!r}))):\n"
        "    print('held', flush=True); time.sleep(600)\n"
    )
    first = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert first.stdout.readline().strip() == "held"
    first.kill()
    first.wait()
    with exclusive_run(home):  # the kernel released the dead holder's lock: no wait
        assert json.loads((home.root / "run.lock").read_text())["pid"] == os.getpid()
