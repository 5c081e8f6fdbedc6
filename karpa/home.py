"""One home folder for everything a run writes.

`.karpa/` in the working directory unless `--home` or `KARPA_HOME` says otherwise. It holds
Prefect's database, MLflow's SQLite store and artifact root, the content-addressed data
store, checkpoints and reports, so that deleting one folder resets a machine completely.

`activate()` must run before Prefect or MLflow is imported: both read their settings from
the environment when they first load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
