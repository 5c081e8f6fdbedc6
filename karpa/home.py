"""One home folder for everything a run writes.

`.karpa/` in the working directory unless `--home` or `KARPA_HOME` says otherwise. It holds
Prefect's database, MLflow's SQLite store and artifact root, the content-addressed data
store, checkpoints and reports, so that deleting one folder resets a machine completely.

`activate()` must run before Prefect or MLflow is imported: both read their settings from
the environment when they first load.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from karpa.errors import ConfigError

# Offline and quiet by default (STACK.md): without the first, every Prefect run logs an
# error trying to reach the internet; MLflow accepts only "true" for DO_NOT_TRACK.
QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_CLI_PROMPT": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "GIT_PYTHON_REFRESH": "quiet",
    # Our libraries log with `logging`; this makes Prefect show those lines in run logs.
    "PREFECT_LOGGING_EXTRA_LOGGERS": "karpa,karpa_models,data_contracts",
    # ...and the same functions called outside a flow (tests, benchmarks) log locally only.
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}

DEFAULT_EXPERIMENT = "karpa"

# How long karpa waits for a server it starts itself (the embedded Prefect API of `karpa
# run`, the servers of `karpa ui` and `karpa deploy`). Prefect's own default for its
# embedded server is 20 s; a cold start on a fresh home (database migrations, first imports)
# took 16-22 s on an idle 2-core machine and failed the 20 s under load, so karpa waits
# far longer: a server that will never answer is rare, a slow one is the norm there.
SERVER_TIMEOUT_VAR = "KARPA_SERVER_TIMEOUT"
DEFAULT_SERVER_TIMEOUT_S = 180.0
# Prefect's own setting for its embedded server; when a user sets it, it wins.
PREFECT_EPHEMERAL_TIMEOUT_VAR = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"


@dataclass(frozen=True)
class Home:
    """Paths inside one karpa home folder."""

    root: Path

    @property
    def prefect(self) -> Path:
        return self.root / "prefect"

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def artifacts(self) -> Path:
        return self.root / "mlartifacts"

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI: `MLFLOW_TRACKING_URI` when set (a team server), else
        the SQLite store inside the home."""
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.mlflow_db}"

    def ensure(self) -> Home:
        for path in (self.prefect, self.artifacts, self.store, self.checkpoints, self.reports):
            path.mkdir(parents=True, exist_ok=True)
        return self


@dataclass(frozen=True)
class ServerTimeout:
    """Seconds to wait for a server to answer, and the setting a user raises to wait longer."""

    seconds: float
    setting: str


def server_timeout() -> ServerTimeout:
    """`KARPA_SERVER_TIMEOUT` (seconds) when set, else 180."""
    raw = os.environ.get(SERVER_TIMEOUT_VAR)
    if raw is None or not raw.strip():
        return ServerTimeout(DEFAULT_SERVER_TIMEOUT_S, SERVER_TIMEOUT_VAR)
    return ServerTimeout(parse_seconds(SERVER_TIMEOUT_VAR, raw), SERVER_TIMEOUT_VAR)


def ephemeral_server_timeout() -> ServerTimeout:
    """The wait for Prefect's embedded API server: Prefect's own variable when the user
    set it, else karpa's setting."""
    raw = os.environ.get(PREFECT_EPHEMERAL_TIMEOUT_VAR)
    if raw is None or not raw.strip():
        return server_timeout()
    return ServerTimeout(
        parse_seconds(PREFECT_EPHEMERAL_TIMEOUT_VAR, raw), PREFECT_EPHEMERAL_TIMEOUT_VAR
    )


def parse_seconds(name: str, raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"{name}={raw!r}: must be a positive number of seconds")
    return seconds


def resolve_home(home: str | os.PathLike[str] | None = None) -> Home:
    """The home from an explicit argument, else `KARPA_HOME`, else `./.karpa`."""
    raw = home or os.environ.get("KARPA_HOME") or ".karpa"
    return Home(Path(raw).expanduser().resolve())


def activate(home: str | os.PathLike[str] | None = None) -> Home:
    """Create the home folder and point this process (and its children) at it."""
    resolved = resolve_home(home).ensure()
    os.environ["KARPA_HOME"] = str(resolved.root)
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    # Analytics stay off even if a user's shell says otherwise: nothing here may phone home.
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_HOME", str(resolved.prefect))
    os.environ.setdefault(
        "PREFECT_API_DATABASE_CONNECTION_URL",
        f"sqlite+aiosqlite:///{resolved.prefect / 'prefect.db'}",
    )
    return resolved
