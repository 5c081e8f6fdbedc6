"""`karpa deploy`: a Prefect server, an MLflow server, the work pool, the deployments of
`prefect.yaml`, and a worker — each reused when already there, started when not.

Everything this module starts runs in its own process group, bound to 127.0.0.1, logs into
the home, and is recorded in `<home>/deploy.json`, so `karpa deploy --stop` (or `kill` by
the printed pids) stops exactly that. A deploy that fails half-way stops what it started.
It drives Prefect through its CLI, as a platform engineer would by hand, and imports
neither Prefect nor MLflow.

The servers keep their state in the home's SQLite files, or, given a database URL, in a
team's PostgreSQL (karpa.database); the MLflow server proxies artifacts to a folder or an
S3 bucket (karpa.artifact_store), so clients need no shared disk.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import yaml

from karpa.artifact_store import check_destination, describe_destination
from karpa.database import DATABASE_URL_VAR, DatabaseUrl, ensure_databases
from karpa.errors import KarpaError, ServerStartError
from karpa.home import Home
from karpa.servers import (
    cli,
    prepare_prefect_database,
    spawn,
    start_mlflow_server,
    start_prefect_server,
    wait_http,
)
from karpa.servers import stop as stop_process

log = logging.getLogger(__name__)

POOL = "karpa-local"
STATE_FILE = "deploy.json"
CLI_TIMEOUT_S = 300
API_ATTEMPTS = 6


class DeployError(KarpaError):
    """A step of `karpa deploy` failed; the message names the step and its log."""


@dataclass
class Service:
    """One server or worker: where it answers, and its process if this module started it."""

    name: str
    url: str | None = None
    pid: int | None = None
    started: bool = False
    log: str | None = None


@dataclass
class DeployState:
    project: str
    home: str
    prefect: Service
    mlflow: Service
    worker: Service
    pool: str = POOL
    deployments: list[str] = field(default_factory=list)
    # Where the servers karpa started keep their state: a PostgreSQL address without the
    # password (None: the home's SQLite files), and the MLflow server's artifact destination
    # ("" in a state file written before it was recorded).
    database: str | None = None
    artifacts: str = ""
    created_databases: list[str] = field(default_factory=list)

    def save(self, home: Home) -> None:
        path = home.root / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)  # atomic: a crash never leaves half a state file

    @staticmethod
    def load(home: Home) -> DeployState | None:
        path = home.root / STATE_FILE
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return DeployState(
            **{**raw, **{k: Service(**raw[k]) for k in ("prefect", "mlflow", "worker")}}
        )


def project_root(explicit: str | None = None) -> Path:
    """The folder of `prefect.yaml`: the one given, else the working directory if it has
    one, else the checkout this package was installed from."""
    candidates = [Path(explicit)] if explicit else [Path.cwd(), Path(__file__).parents[1]]
    for folder in candidates:
        if (folder / "prefect.yaml").is_file():
            return folder.resolve()
    raise DeployError(
        f"no prefect.yaml in {', '.join(str(c) for c in candidates)}; "
        "pass --project with the karpa checkout"
    )


def deployment_names(project: Path) -> list[str]:
    spec = yaml.safe_load((project / "prefect.yaml").read_text()) or {}
    return [d["name"] for d in spec.get("deployments", [])]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _group(pgid: int) -> list[int]:
    """The live processes of a process group (zombies left out)."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def alive(service: Service) -> bool:
    """Whether what was started still runs, in whole or in part, and is still what was
    started. Each service leads a process group of its own (`start_new_session`), and a
    launcher such as `mlflow server` may exit while the server it spawned lives on, so the
    group counts, not the recorded pid alone; a group of processes that are not the
    service's (a recycled pid) must not be signalled."""
    if not service.pid:
        return False
    prefix = service.name.split("-")[0]
    return any(prefix in _cmdline(pid) for pid in _group(service.pid))


def _spawn_restored(start, *args, **kwargs) -> subprocess.Popen:
    """Start a child whose SIGINT is not ignored: a process started from a
    non-interactive shell inherits an ignored SIGINT, and Prefect's worker then ignores
    SIGTERM too (STACK.md). A handled signal is reset to default across exec."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return start(*args, **kwargs)
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_or_stop(url: str, proc: subprocess.Popen, log_path: Path, name: str) -> None:
    """Wait for a server just started; one that never answers is stopped, not left behind."""
    try:
        wait_http(url, proc, name=f"the {name.replace('-', ' ')} started by karpa deploy")
    except ServerStartError as exc:
        stop_process(proc)
        raise DeployError(f"{exc} (see {log_path})") from None


def ensure_prefect(
    home: Home, port: int, previous: DeployState | None, database: DatabaseUrl | None = None
) -> Service:
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        if not _answers(f"{configured.rstrip('/')}/health"):
            raise DeployError(
                f"PREFECT_API_URL={configured} does not answer; start that "
                "server or unset PREFECT_API_URL to let karpa start one"
            )
        return Service("prefect-server", url=configured.rstrip("/"))
    if database is None:
        prepare_prefect_database(home)  # no-op for a home whose database exists
        start = start_prefect_server
    else:  # the server migrates its new PostgreSQL database while it starts
        start = partial(
            start_prefect_server,
            database_url=database.prefect_url(),
            extra_env=database.server_env(),
        )
    return _reuse_or_start(
        "prefect-server",
        f"http://127.0.0.1:{port}/api",
        previous.prefect if previous else None,
        start,
        home,
        port,
    )


def ensure_mlflow(
    home: Home,
    port: int,
    previous: DeployState | None,
    database: DatabaseUrl | None = None,
    artifacts: str | None = None,
) -> Service:
    """The MLflow server: the one `MLFLOW_TRACKING_URI` names, else one started on the
    home's SQLite store or `database`, proxying artifacts to `artifacts` (default: the
    home's `mlartifacts` folder), which is checked before the server starts."""
    configured = os.environ.get("MLFLOW_TRACKING_URI", "")
    if configured.startswith(("http://", "https://")):
        if not _answers(f"{configured.rstrip('/')}/health"):
            raise DeployError(f"MLFLOW_TRACKING_URI={configured} does not answer")
        return Service("mlflow-server", url=configured.rstrip("/"))
    url = f"http://127.0.0.1:{port}"
    if previous and previous.mlflow.url and _answers(f"{previous.mlflow.url}/health"):
        return previous.mlflow
    destination = artifacts or str(home.artifacts)
    if not _answers(f"{url}/health"):
        check_destination(destination)
    start = partial(
        start_mlflow_server,
        backend_uri=database.mlflow_url() if database else None,
        artifacts_destination=destination,
        extra_env=database.server_env() if database else None,
    )
    return _reuse_or_start("mlflow-server", url, None, start, home, port)


def _reuse_or_start(
    name: str, url: str, previous: Service | None, start, home: Home, port: int
) -> Service:
    """The server of the last deploy if it still answers, else one already on `url`, else a
    new one started against the home (its log next to deploy.json)."""
    if previous and previous.url and _answers(f"{previous.url}/health"):
        return previous
    if _answers(f"{url}/health"):
        return Service(name, url=url)
    log = home.root / f"{name}.log"
    proc = _spawn_restored(start, home, port)
    _wait_or_stop(f"{url}/health", proc, log, name)
    return Service(name, url=url, pid=proc.pid, started=True, log=str(log))


def _prefect_cli(args: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
    cmd = [*cli("prefect"), *args]
    with open(log_path, "ab") as handle:
        handle.write(f"\n$ {' '.join(cmd)}\n".encode())
        handle.flush()
        done = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
    if done.returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
        raise DeployError(
            f"`prefect {' '.join(args)}` failed with exit code "
            f"{done.returncode} ({tail[0] if tail else 'no output'}); "
            f"see {log_path}"
        )


def _api(
    url: str, method: str = "GET", body: object | None = None, attempts: int = API_ATTEMPTS
) -> object:
    """One Prefect REST call. A server on SQLite answers 503 while its database is locked
    (STACK.md): that, like a refused connection, is retried with backoff."""
    data = json.dumps(body).encode() if body is not None else None
    attempt = 0
    while True:
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
            return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            if exc.code not in (429, 502, 503) or attempt + 1 >= attempts:
                raise DeployError(
                    f"Prefect API {method} {url} answered {exc.code}: "
                    f"{exc.read()[:300].decode(errors='replace')}"
                ) from None
        except urllib.error.URLError as exc:
            if attempt + 1 >= attempts:
                raise DeployError(f"Prefect API {method} {url}: {exc.reason}") from None
        time.sleep(0.5 * 2**attempt)
        attempt += 1


def registered(api_url: str, names: list[str]) -> list[dict]:
    """The deployments of these names, as the Prefect API returns them."""
    body = {"deployments": {"name": {"any_": names}}, "limit": 200}
    return list(_api(f"{api_url}/deployments/filter", "POST", body) or [])


def refuse_unknown_parameters(api_url: str, deployments: list[dict]) -> int:
    """Close each deployment's parameter schema (`additionalProperties: false`).

    Prefect derives the schema from the flow's signature but leaves it open, so a run
    created through the API with a misspelt parameter name is accepted and then crashes
    in the worker; closed, the API refuses it with a message, like a bad value.
    """
    patched = 0
    for deployment in deployments:
        schema = deployment.get("parameter_openapi_schema") or {}
        if schema.get("additionalProperties") is False:
            continue
        closed = {**schema, "additionalProperties": False}
        _api(
            f"{api_url}/deployments/{deployment['id']}",
            "PATCH",
            {"parameter_openapi_schema": closed},
        )
        patched += 1
    return patched


def full_names(api_url: str, deployments: list[dict]) -> list[str]:
    """`flow/deployment`, the name `prefect deployment run` and `run_deployment` take."""
    flows = {d["flow_id"]: _api(f"{api_url}/flows/{d['flow_id']}") for d in deployments}
    return sorted(f"{flows[d['flow_id']]['name']}/{d['name']}" for d in deployments)


def run_env(
    home: Home, project: Path, prefect_url: str, mlflow_url: str, query_seconds: float | None = None
) -> dict[str, str]:
    """The environment of the CLI calls and of the worker (and so of every flow run)."""
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_url,
        "MLFLOW_TRACKING_URI": mlflow_url,
        "KARPA_HOME": str(home.root),
        # prefect.yaml's pull step is `{{ $PWD }}`: the project folder, whoever calls.
        "PWD": str(project),
    }
    if query_seconds is not None:
        env["PREFECT_WORKER_QUERY_SECONDS"] = str(query_seconds)
    # The database URL (and its password) is the servers' business, not the flow runs'.
    env.pop(DATABASE_URL_VAR, None)
    return env


def deploy(
    home: Home,
    project: Path,
    prefect_port: int = 4200,
    mlflow_port: int = 5000,
    query_seconds: float | None = None,
    database: DatabaseUrl | None = None,
    artifacts: str | None = None,
) -> DeployState:
    """Bring everything up (idempotent) and record what runs in `<home>/deploy.json`.

    `database`: a team's PostgreSQL for both servers (default: the home's SQLite files);
    `artifacts`: where the MLflow server keeps artifacts (a folder or `s3://…`, default
    `<home>/mlartifacts`). Each process is recorded as soon as it runs; a failure stops
    what this call started (the servers of an earlier deploy stay) and is re-raised."""
    previous = DeployState.load(home)
    state = DeployState(
        project=str(project),
        home=str(home.root),
        prefect=Service("prefect-server"),
        mlflow=Service("mlflow-server"),
        worker=previous.worker if previous else Service("prefect-worker"),
        deployments=deployment_names(project),
        database=database.address if database else None,
        artifacts=artifacts or str(home.artifacts),
    )
    _refuse_other_stores(previous, state)
    try:
        _bring_up(
            home, project, state, previous, prefect_port, mlflow_port, query_seconds, database
        )
    except BaseException:
        _stop_started(home, state, previous)
        raise
    return state


def _refuse_other_stores(previous: DeployState | None, state: DeployState) -> None:
    """Servers of an earlier deploy that still run are reused, so they must keep their
    state where this deploy asks for it: another database or artifact destination is one
    sentence asking to stop them first, never a silent reuse."""
    if previous is None or not (alive(previous.prefect) or alive(previous.mlflow)):
        return
    for what, before, now in (
        ("database", previous.database or "the home's SQLite files", state.database),
        ("artifact destination", previous.artifacts, state.artifacts),
    ):
        now = now or "the home's SQLite files"
        if before and before != now:
            raise DeployError(
                f"the servers of the last karpa deploy run with the {what} {before}, not "
                f"{now}; stop them first with `karpa deploy --stop`"
            )


def _stop_started(home: Home, state: DeployState, previous: DeployState | None) -> None:
    """Stop the processes this deploy started; the record of an earlier deploy is put back,
    so `karpa deploy --stop` still finds what that one started."""
    before = (
        {s.pid for s in (previous.prefect, previous.mlflow, previous.worker)} if previous else set()
    )
    for service in (state.worker, state.mlflow, state.prefect):
        if service.started and service.pid not in before:
            stop_service(service)
    if previous is not None:
        previous.save(home)
    else:
        (home.root / STATE_FILE).unlink(missing_ok=True)


def _bring_up(
    home: Home,
    project: Path,
    state: DeployState,
    previous: DeployState | None,
    prefect_port: int,
    mlflow_port: int,
    query_seconds: float | None,
    database: DatabaseUrl | None,
) -> None:
    if database is not None:
        # Before any server starts: an unreachable database starts nothing.
        state.created_databases = ensure_databases(database)
        if state.created_databases:
            log.info(
                "created the databases %s on PostgreSQL at %s",
                ", ".join(state.created_databases),
                database.address,
            )
    state.prefect = ensure_prefect(home, prefect_port, previous, database)
    state.save(home)
    state.mlflow = ensure_mlflow(home, mlflow_port, previous, database, state.artifacts)
    state.save(home)

    env = run_env(home, project, state.prefect.url or "", state.mlflow.url or "", query_seconds)
    cli_log = home.root / "deploy.log"
    # --overwrite: a second create of the same pool would fail (STACK.md).
    _prefect_cli(
        ["work-pool", "create", POOL, "--type", "process", "--overwrite"], env, project, cli_log
    )
    # One flow run at a time in the pool: a nightly retrain and a manual one never collide.
    _prefect_cli(["work-pool", "set-concurrency-limit", POOL, "1"], env, project, cli_log)
    _prefect_cli(["--no-prompt", "deploy", "--all"], env, project, cli_log)
    found = registered(state.prefect.url or "", state.deployments)
    refuse_unknown_parameters(state.prefect.url or "", found)
    state.deployments = full_names(state.prefect.url or "", found)

    same_servers = previous is not None and (previous.prefect.url, previous.mlflow.url) == (
        state.prefect.url,
        state.mlflow.url,
    )
    if alive(state.worker) and not same_servers:
        stop_service(state.worker)  # it polls another server, or hands runs a stale URI
    if not (alive(state.worker) and same_servers):
        log_path = home.root / "prefect-worker.log"
        proc = _spawn_restored(
            spawn,
            [*cli("prefect"), "worker", "start", "--pool", POOL, "--type", "process"],
            home,
            log_path,
            env,
        )
        state.worker = Service("prefect-worker", pid=proc.pid, started=True, log=str(log_path))
    state.save(home)


def _wait_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group(pgid):
            return True
        time.sleep(0.2)
    return False


def stop_service(service: Service, timeout: float = 15.0) -> bool:
    """Stop a process this module started, with its process group: SIGTERM, then
    SIGKILL. Returns whether something was stopped."""
    if not (service.started and alive(service)):
        return False
    assert service.pid is not None
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(service.pid, sig)
        except ProcessLookupError:
            return True
        if _wait_gone(service.pid, timeout):
            return True
    return True


def stop(home: Home) -> list[Service]:
    """Stop what `deploy` started (the worker first, so no run starts on a dying server)."""
    state = DeployState.load(home)
    if state is None:
        return []
    stopped = [s for s in (state.worker, state.mlflow, state.prefect) if stop_service(s)]
    (home.root / STATE_FILE).unlink(missing_ok=True)
    return stopped


def describe(state: DeployState) -> str:
    """What runs, where, and how to stop it: printed by `karpa deploy`."""

    def origin(s: Service) -> str:
        return f"started, pid {s.pid}, log {s.log}" if s.started else "already running"

    ui = (state.prefect.url or "").removesuffix("/api")
    lines = [
        f"Prefect UI:   {ui}  ({origin(state.prefect)})",
        f"Prefect API:  {state.prefect.url}",
        f"MLflow UI:    {state.mlflow.url}  ({origin(state.mlflow)})",
        "Database:     "
        + (f"PostgreSQL {state.database}" if state.database else "SQLite files in the home")
        + (f" (created {', '.join(state.created_databases)})" if state.created_databases else ""),
        f"Artifacts:    {describe_destination(state.artifacts)}  (served by MLflow: "
        "clients log to mlflow-artifacts:)",
        f"Work pool:    {state.pool} (process; one flow run at a time)",
        f"Worker:       {origin(state.worker)}",
        "Deployments:  " + ", ".join(state.deployments),
        f"Home:         {state.home}  (deploy.json records the pids)",
        "",
        "Start a run:  from the UI (Deployments → Run → Custom run), or",
        f"              PREFECT_API_URL={state.prefect.url} prefect deployment run "
        "karpa-retrain/validate-data --param data=<folder>",
        f"              PREFECT_API_URL={state.prefect.url} prefect deployment run "
        "karpa-finetune/finetune --param application=intent",
    ]
    pids = [s.pid for s in (state.worker, state.mlflow, state.prefect) if s.started and s.pid]
    stop_hint = "karpa deploy --stop"
    if pids:
        stop_hint += "   (or: kill -TERM -- " + " ".join(f"-{p}" for p in pids) + ")"
    lines.append(f"Stop:         {stop_hint}")
    return "\n".join(lines)
