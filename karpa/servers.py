"""Start and stop the Prefect and MLflow servers against one home, on 127.0.0.1.

Used by `karpa ui` and by tests: every server runs in its own process group, so it can be
stopped by its process id (a server started from a non-interactive shell ignores SIGINT,
STACK.md), and binds to localhost unless told otherwise.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from karpa.home import Home


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bin_path(name: str) -> str:
    """The console script installed beside this interpreter (the project's venv)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def start_prefect_server(home: Home, port: int, host: str = "127.0.0.1",
                         log: Path | None = None) -> subprocess.Popen:
    """`prefect server start` against this home's database, with its UI pointed at its own
    port: `--port` alone moves the API, but the UI keeps calling :4200 unless told."""
    cmd = [bin_path("prefect"), "server", "start", "--host", host, "--port", str(port),
           "--analytics-off"]
    env = {
        "PREFECT_API_DATABASE_CONNECTION_URL":
            f"sqlite+aiosqlite:///{home.prefect / 'prefect.db'}",
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": f"http://{host}:{port}/api",
        # Offline: no "try Prefect Cloud" banners pointing at the internet.
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    }
    return spawn(cmd, home, log or home.root / "prefect-server.log", env)


def start_mlflow_server(home: Home, port: int, host: str = "127.0.0.1",
                        log: Path | None = None) -> subprocess.Popen:
    # One worker and no job execution: ~0.5 GB instead of ~3 GB on a small machine.
    cmd = [bin_path("mlflow"), "server", "--host", host, "--port", str(port),
           "--backend-store-uri", f"sqlite:///{home.mlflow_db}",
           "--default-artifact-root", home.artifacts.as_uri(), "--workers", "1"]
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return spawn(cmd, home, log or home.root / "mlflow-server.log", env)


def spawn(cmd: list[str], home: Home, log: Path, extra_env: dict[str, str] | None = None):
    env = {**os.environ, **(extra_env or {})}
    handle = open(log, "ab")  # noqa: SIM115 - the child owns it for its lifetime
    return subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env,
                            cwd=home.root, start_new_session=True)


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Block until `url` answers 200, or fail with the server's exit code."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


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
