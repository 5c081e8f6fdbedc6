"""The embedded Prefect API that `karpa run` uses when no Prefect server is configured.

Prefect starts a temporary API server (a subprocess on a free local port) the first time a
flow needs one and waits 20 s for it; on a cold 2-core machine the first run on a fresh home
took longer and died with a traceback. karpa starts that same server itself, before any
flow run exists, so that the wait is karpa's setting (`KARPA_SERVER_TIMEOUT`, unless the
user set Prefect's own `PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`), a server that
does not answer is one sentence with nothing half-started, and Prefect's own lazy start
later finds the server running and reuses it. Prefect stops it when the process exits.

It also puts right what a run that died left on the home (orphaned servers, flow runs and
MLflow runs still RUNNING), and closes this process's own runs when its flow unwinds.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime

from karpa.errors import ServerStartError, first_line
from karpa.home import Home, ephemeral_server_timeout
from karpa.servers import prepare_prefect_database, stop_orphaned_embedded_servers
from karpa.tracking.runs import fail_abandoned_runs

log = logging.getLogger(__name__)


def start_embedded_api(home: Home) -> str | None:
    """Start (or find running) the embedded Prefect API for this process; return its URL,
    or None when `PREFECT_API_URL` names a server to use instead."""
    if os.environ.get("PREFECT_API_URL"):
        return None
    prepare_prefect_database(home)
    from prefect.server.api.server import SubprocessASGIServer

    wait = ephemeral_server_timeout()
    server = SubprocessASGIServer()
    try:
        server.start(timeout=wait.seconds)  # type: ignore[arg-type]  # a float works
    except Exception as exc:  # Prefect raises RuntimeError on time-out, HTTPError on a 5xx
        server.stop()
        if "Timed out" in str(exc):
            raise ServerStartError(
                f"the embedded Prefect API server did not answer within {wait.seconds:g} s "
                f"(home {home.root}); raise {wait.setting}, or set PREFECT_API_URL to a "
                "running Prefect server"
            ) from None
        raise ServerStartError(
            f"the embedded Prefect API server failed to start (home {home.root}): {first_line(exc)}"
        ) from None
    return server.api_url


def recover_abandoned_runs(home: Home) -> None:
    """What a run that died (`kill -9`, a power cut) left behind on this home, put right
    on the next start: its orphaned embedded Prefect server stopped, its Prefect flow runs
    marked Crashed and its MLflow runs FAILED, each with the reason; one line says so.

    Call it while holding the home's run lock (karpa.run_lock) and after
    `start_embedded_api`: then no run of this home is alive, and anything still RUNNING
    belongs to a process that is gone. Does nothing against team servers
    (PREFECT_API_URL, MLFLOW_TRACKING_URI), where other machines' runs live."""
    servers = stop_orphaned_embedded_servers(home)
    flows, runs = _close_unfinished(
        home,
        "the karpa process running it stopped before it "
        "finished (found by the next run on this home)",
    )
    if servers or flows or runs:
        log.warning(
            "a run on this home stopped without finishing: marked %d Prefect flow "
            "run(s) Crashed and %d MLflow run(s) FAILED, stopped %d orphaned Prefect "
            "server(s)",
            flows,
            runs,
            len(servers),
        )


def close_interrupted_runs(home: Home) -> None:
    """After this process's flow returned or unwound (SIGTERM, Ctrl-C, a crash), close what
    it left open: a run stopped inside a stage leaves that stage's MLflow run RUNNING.
    Under the home's run lock whatever is still unfinished is this process's."""
    flows, runs = _close_unfinished(home, "karpa run was stopped before it finished")
    if flows or runs:
        log.warning(
            "this run stopped before it finished: marked %d Prefect flow run(s) "
            "Crashed and %d MLflow run(s) FAILED",
            flows,
            runs,
        )


def _close_unfinished(home: Home, reason: str) -> tuple[int, int]:
    """Close both kinds of run, each on its own: the MLflow runs first (the home's own
    SQLite store needs no server), then the Prefect flow runs, whose API may be what
    failed or is being stopped; a failure of one never leaves the other open."""
    reason = f"{reason}, {datetime.now(UTC).isoformat(timespec='seconds')}"
    runs: list[str] = []
    flows: list[str] = []
    try:
        runs = _fail_runs_while_locked(home, reason)
    except Exception as exc:  # still try the flow runs; say why these stay open
        log.warning("could not mark this home's unfinished MLflow runs FAILED: %s", exc)
    if not os.environ.get("PREFECT_API_URL"):
        try:
            flows = _crash_unfinished_flow_runs(reason)
        except Exception as exc:
            log.warning("could not mark the unfinished Prefect flow runs Crashed: %s", exc)
    return len(flows), len(runs)


def _fail_runs_while_locked(home: Home, reason: str, patience_s: float = 45.0) -> list[str]:
    """`fail_abandoned_runs`, tried again while SQLite says the store is locked: a stopped
    run's task thread can still be writing its metrics (and on a loaded machine hold the
    write lock for seconds) while the main thread unwinds."""
    deadline = time.monotonic() + patience_s
    wait = 0.5
    while True:
        try:
            return fail_abandoned_runs(home, reason)
        except Exception as exc:
            if "database is locked" not in str(exc) or time.monotonic() + wait > deadline:
                raise
            log.info("the MLflow store is locked, trying again in %.1f s", wait)
        time.sleep(wait)  # a lock held by another thread: nothing to wait on but time
        wait = min(wait * 2, 8.0)


def _crash_unfinished_flow_runs(reason: str) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    unfinished = FlowRunFilter(
        state=FlowRunFilterState(
            type=FlowRunFilterStateType(
                any_=[StateType.RUNNING, StateType.PENDING, StateType.CANCELLING]
            )
        )
    )
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=unfinished)
        for run in runs:
            client.set_flow_run_state(run.id, Crashed(message=reason), force=True)
    return [str(run.id) for run in runs]


def stop_embedded_api() -> None:
    """Stop the embedded API server this process started (Prefect's exit hook does this on
    a normal exit; a forced one skips it)."""
    from prefect.server.api.server import SubprocessASGIServer

    SubprocessASGIServer().stop()
