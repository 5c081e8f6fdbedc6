"""The server-mode stack for the end-to-end and browser tests, started once per package.

`karpa deploy` against a temporary home holding a tiny demo world: a Prefect server and an
MLflow server on free ports, the work pool, the deployments of this checkout's
prefect.yaml, and a worker that polls every 2 s. Everything is stopped by process id
(`karpa.deploy.stop`, from the pids in deploy.json) when the package's tests are done,
whatever happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from karpa.demo import generate_world
from karpa.deploy import DeployState, deploy, stop
from karpa.home import Home
from karpa.servers import free_port

REPO = Path(__file__).resolve().parents[2]
# A whole pipeline on the small world takes about a minute alone; on a loaded 2-core
# machine it took over five (a 300 s ceiling for the nightly run failed there).
RUN_TIMEOUT_S = 600
HOOK_TIMEOUT_S = 60


@dataclass
class Stack:
    home: Home
    world: Path
    state: DeployState

    @property
    def api_url(self) -> str:
        return self.state.prefect.url or ""

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")

    @property
    def mlflow_url(self) -> str:
        return self.state.mlflow.url or ""


@dataclass
class FinishedRun:
    flow_run: Any
    parameters: dict[str, Any]
    deployment_id: Any


@pytest.fixture(scope="package")
def stack(tmp_path_factory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("deployed")
    home = Home(root / "home").ensure()
    world = root / "world"
    generate_world(world, scale=0.1, seed=0)
    with pytest.MonkeyPatch.context() as mp:
        # Nothing of the session's embedded setup may leak into the servers or the worker.
        for name in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI"):
            mp.delenv(name, raising=False)
        mp.setenv("KARPA_HOME", str(home.root))
        mp.setenv("PREFECT_HOME", str(home.prefect))
        try:
            state = deploy(home, REPO, free_port(), free_port(), query_seconds=2)
            yield Stack(home, world, state)
        finally:
            stop(home)


@contextmanager
def prefect_client_of(api_url: str) -> Iterator[Any]:
    """A Prefect client bound to the server at `api_url`, leaving this process's Prefect
    settings alone. (Pointing the settings there for a package of tests also sent the
    in-process flow runs of other test files in that package to this server, and their
    events to whichever server Prefect's process-wide events worker was made for: seen as
    lost task runs when pytest-xdist ran the files in another order.)"""
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(api_url) as client:
        yield client


@pytest.fixture(scope="package")
def prefect_client(stack):
    """A Prefect client of the stack's server (not the session's embedded API)."""
    with prefect_client_of(stack.api_url) as client:
        yield client


def wait_final(client, flow_run_id, timeout: float = RUN_TIMEOUT_S):
    """The flow run once it reached a final state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        flow_run = client.read_flow_run(flow_run_id)
        if flow_run.state and flow_run.state.is_final():
            return flow_run
        time.sleep(1)
    raise TimeoutError(
        f"flow run {flow_run_id} not final after {timeout:.0f} s "
        f"(state {flow_run.state.name if flow_run.state else None})"
    )


@pytest.fixture(scope="package")
def validated(stack, prefect_client) -> FinishedRun:
    """One run of `validate-data` created through the API with a changed parameter of each
    kind (a folder, a typed number, a free override), run by the worker to the end."""
    deployment = prefect_client.read_deployment_by_name("karpa-retrain/validate-data")
    parameters = {
        "data": str(stack.world),
        "pretrain_steps": 7,
        "overrides": ["ingest.batch_rows=5000"],
    }
    created = prefect_client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
    return FinishedRun(wait_final(prefect_client, created.id), parameters, deployment.id)


@pytest.fixture(scope="package")
def finetuned(stack, prefect_client, fast_overrides) -> FinishedRun:
    """A nightly run that promotes a foundation, then a run of `finetune` created through
    the API: intent only, from the champion foundation, fine-tune and evaluate only."""
    nightly = prefect_client.read_deployment_by_name("karpa-retrain/nightly-retrain")
    first = prefect_client.create_flow_run_from_deployment(
        nightly.id, parameters={"data": str(stack.world), "overrides": fast_overrides}
    )
    first = wait_final(prefect_client, first.id, timeout=2 * RUN_TIMEOUT_S)
    assert first.state.is_completed(), first.state.message
    deployment = prefect_client.read_deployment_by_name("karpa-finetune/finetune")
    parameters = {
        "data": str(stack.world),
        "application": "intent",
        "until": "finetune",
        "overrides": fast_overrides,
    }
    created = prefect_client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
    return FinishedRun(wait_final(prefect_client, created.id), parameters, deployment.id)


def eventually(
    read: Callable[[], Any],
    ready: Callable[[Any], bool],
    what: str,
    timeout: float = HOOK_TIMEOUT_S,
) -> Any:
    """`read()` again until `ready` holds for its value, and that value.

    A deployed run's state hooks (the summary artifact, the headline metrics on the MLflow
    parent run, the failure record and tags) run in the worker's process after the run has
    turned final: a test waits for the very thing it checks, never for a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ready(value):
            return value
        assert time.monotonic() < deadline, f"{what}: not there after {timeout:.0f} s"
        time.sleep(0.5)


def mlflow_parent(stack: Stack, flow_run_id, metrics: Iterable[str] = (), tags: Iterable[str] = ()):
    """The MLflow parent run that the pipeline opened for this Prefect flow run, once it
    carries the named metrics and tags (those a hook writes land after the run ends)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(stack.mlflow_url)
    experiment = client.get_experiment_by_name("karpa")
    metrics, tags = list(metrics), list(tags)

    def read():
        runs = client.search_runs(
            [experiment.experiment_id], f"tags.`prefect.flow_run_id` = '{flow_run_id}'"
        )
        assert len(runs) <= 1, f"expected one MLflow parent run for {flow_run_id}, got {len(runs)}"
        return runs[0] if runs else None

    def ready(run) -> bool:
        return (
            run is not None
            and all(m in run.data.metrics for m in metrics)
            and all(t in run.data.tags for t in tags)
        )

    return eventually(read, ready, f"MLflow parent run of {flow_run_id} with {metrics + tags}")


def flow_run_artifacts(client, flow_run_id, keys: Iterable[str] = ()) -> dict[str, Any]:
    """The flow run's artifacts by key, once every key in `keys` is there."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    keys = list(keys)

    def read() -> dict[str, Any]:
        found = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
        return {a.key: a for a in found}

    return eventually(
        read, lambda got: all(k in got for k in keys), f"artifacts {keys} of flow run {flow_run_id}"
    )


def artifacts_dir() -> Path:
    """Where screenshots are kept after the run (ignored by git, with the home)."""
    out = REPO / ".karpa" / "test-artifacts"
    out.mkdir(parents=True, exist_ok=True)
    return out
