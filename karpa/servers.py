"""Start and stop the Prefect and MLflow servers against one home, on 127.0.0.1.

Used by `karpa ui`, `karpa deploy` and tests: every server runs in its own process group,
so it can be stopped by its process id (a server started from a non-interactive shell
ignores SIGINT, STACK.md), and binds to localhost unless told otherwise. Each wait for a
server is `KARPA_SERVER_TIMEOUT` long (karpa.home), and one that does not answer is one
sentence naming the server, the wait and that setting.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from karpa.errors import ServerStartError
from karpa.home import Home, ServerTimeout, server_timeout

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(module: str) -> list[str]:
    """The command line of a dependency's CLI (`prefect`, `mlflow`) run by this interpreter:
    its console script need not be on PATH (an install by pipx, or into a venv that is not
    activated, exposes `karpa` alone)."""
    return [sys.executable, "-m", module]


def prefect_database_url(home: Home) -> str:
    return f"sqlite+aiosqlite:///{home.prefect / 'prefect.db'}"


def prepare_prefect_database(home: Home) -> None:
    """Create and migrate the home's Prefect database before any server needs it.

    A server migrates a new database while it starts, and on a cold 2-core machine that
    alone outlasted Prefect's 20 s start-up wait: done here, on the first use of a home, it
    is out of every server's start-up path. Skipped when the database exists (a server
    brings an existing one up to date quickly) or is not the home's (PREFECT_API_URL or
    another database URL set by the user)."""
    db = home.prefect / "prefect.db"
    configured = os.environ.get("PREFECT_API_DATABASE_CONNECTION_URL", prefect_database_url(home))
    if db.exists() or os.environ.get("PREFECT_API_URL") or configured != prefect_database_url(home):
        return
    log_path = home.root / "prefect-database.log"
    log.info("preparing the Prefect database in %s (first use of this home)", home.prefect)
    started = time.monotonic()
    timeout = server_timeout()
    with open(log_path, "ab") as out:
        try:
            done = subprocess.run(
                [*cli("prefect"), "server", "database", "upgrade", "-y"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PREFECT_API_DATABASE_CONNECTION_URL": configured},
                cwd=home.root,
                timeout=timeout.seconds,
                check=False,
            )
        except subprocess.TimeoutExpired:
            db.unlink(missing_ok=True)  # half-migrated: the next start migrates it whole
            raise ServerStartError(
                f"creating the Prefect database {db} took longer than {timeout.seconds:g} s; "
                f"raise {timeout.setting} (see {log_path})"
            ) from None
    if done.returncode != 0:
        db.unlink(missing_ok=True)
        raise ServerStartError(
            f"creating the Prefect database {db} failed (exit code {done.returncode}); "
            f"see {log_path}"
        )
    log.info("Prefect database ready in %.0f s", time.monotonic() - started)


def orphaned_embedded_servers(home: Home) -> list[int]:
    """Pids of Prefect embedded API servers of this home whose karpa process died (their
    parent is now init): Prefect stops its embedded server when the process that started
    it exits, but a `kill -9` gives it no chance."""
    needle = f"PREFECT_API_DATABASE_CONNECTION_URL={prefect_database_url(home)}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if b"prefect.server.api.server:create_app" not in cmdline:
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
        if ppid == 1 and needle in environ and b"PREFECT__SERVER_EPHEMERAL=1" in environ:
            found.append(int(entry.name))
    return found


def stop_orphaned_embedded_servers(home: Home, timeout: float = 15.0) -> list[int]:
    """Stop the orphaned embedded servers of this home (SIGTERM, then SIGKILL)."""
    pids = orphaned_embedded_servers(home)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if Path(f"/proc/{p}").exists()]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def start_prefect_server(
    home: Home,
    port: int,
    host: str = "127.0.0.1",
    log: Path | None = None,
    database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """`prefect server start` against this home's database (or `database_url`, a team's
    PostgreSQL), with its UI pointed at its own port: `--port` alone moves the API, but
    the UI keeps calling :4200 unless told."""
    cmd = [
        *cli("prefect"),
        "server",
        "start",
        "--host",
        host,
        "--port",
        str(port),
        "--analytics-off",
    ]
    env = {
        "PREFECT_API_DATABASE_CONNECTION_URL": database_url or prefect_database_url(home),
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": f"http://{host}:{port}/api",
        # Offline: no "try Prefect Cloud" banners pointing at the internet.
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        **(extra_env or {}),
    }
    return spawn(cmd, home, log or home.root / "prefect-server.log", env)


def start_mlflow_server(
    home: Home,
    port: int,
    host: str = "127.0.0.1",
    log: Path | None = None,
    backend_uri: str | None = None,
    artifacts_destination: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """`mlflow server` on this home's SQLite store (or `backend_uri`, a team's PostgreSQL).

    With `artifacts_destination` (a folder or `s3://…`) it proxies artifacts: clients log
    to `mlflow-artifacts:` over HTTP and need no access to where they are kept. Without,
    it points clients at the home's artifact folder, as `karpa ui` does for the files an
    embedded run wrote there."""
    artifacts = (
        ["--serve-artifacts", "--artifacts-destination", artifacts_destination]
        if artifacts_destination
        else ["--default-artifact-root", home.artifacts.as_uri()]
    )
    # One worker and no job execution: ~0.5 GB instead of ~3 GB on a small machine.
    cmd = [
        *cli("mlflow"),
        "server",
        "--host",
        host,
        "--port",
        str(port),
        "--backend-store-uri",
        backend_uri or f"sqlite:///{home.mlflow_db}",
        *artifacts,
        "--workers",
        "1",
    ]
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(extra_env or {})}
    return spawn(cmd, home, log or home.root / "mlflow-server.log", env)


def spawn(cmd: list[str], home: Home, log: Path, extra_env: dict[str, str] | None = None):
    env = {**os.environ, **(extra_env or {})}
    handle = open(log, "ab")  # noqa: SIM115 - the child owns it for its lifetime
    return subprocess.Popen(
        cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=home.root, start_new_session=True
    )


def wait_http(
    url: str,
    proc: subprocess.Popen,
    timeout: float | ServerTimeout | None = None,
    name: str = "the server",
) -> None:
    """Block until `url` answers 200; a server that exits first or does not answer in time
    is a `ServerStartError` naming it, the wait and the setting that sets the wait
    (`KARPA_SERVER_TIMEOUT` unless a number is given)."""
    wait = (
        timeout
        if isinstance(timeout, ServerTimeout)
        else (server_timeout() if timeout is None else ServerTimeout(timeout, ""))
    )
    deadline = time.monotonic() + wait.seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(
                f"{name} exited with code {proc.returncode} before {url} answered"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    hint = f"; raise {wait.setting}" if wait.setting else ""
    raise ServerStartError(f"{name} did not answer on {url} within {wait.seconds:g} s{hint}")


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Stop a server and its children by process group: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass
