"""A SIGTERM never cuts a tracking call in half: it is held until the call returns, then
reaches the handler it was meant for (which may stop the run, as Prefect's does)."""

from __future__ import annotations

import os
import signal
from types import SimpleNamespace

import mlflow
import pandas as pd
import pytest
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient

from karpa.tracking.guard import GuardedClient
from karpa.tracking.models import log_pyfunc


class Stopped(BaseException):
    pass


class Store:
    """A stand-in client whose write is interrupted half-way by a SIGTERM."""

    def __init__(self) -> None:
        self.rows: list[str] = []

    def log_batch(self, run_id: str) -> str:
        self.rows.append(f"{run_id}:begin")
        os.kill(os.getpid(), signal.SIGTERM)  # arrives inside the call
        self.rows.append(f"{run_id}:commit")
        return "done"


@pytest.fixture
def stopping_handler():
    def stop(signum, frame):
        raise Stopped(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_a_sigterm_inside_a_call_is_delivered_after_it(stopping_handler):
    store = Store()
    with pytest.raises(Stopped):
        GuardedClient(store).log_batch("r1")
    assert store.rows == ["r1:begin", "r1:commit"]  # the call finished first
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # the handler is back


def test_unguarded_the_same_call_is_cut_in_half(stopping_handler):
    store = Store()
    with pytest.raises(Stopped):
        store.log_batch("r1")
    assert store.rows == ["r1:begin"]


def test_plain_attributes_pass_through():
    store = Store()
    assert GuardedClient(store).rows is store.rows


class Echo(PythonModel):
    def load_context(self, context) -> None:
        pass

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return model_input


def test_a_sigterm_inside_the_fluent_log_model_is_delivered_after_it(
    stopping_handler, tmp_path, monkeypatch
):
    """`mlflow.pyfunc.log_model` goes through MLflow's fluent API, not the client: the
    guard must hold there too, and the run it made active must be let go first."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("guard", artifact_location=str(tmp_path / "art"))
    run_id = client.create_run(experiment).info.run_id
    rows: list[str] = []

    def log_model(**kwargs):
        rows.append(f"{kwargs['name']}:begin")
        os.kill(os.getpid(), signal.SIGTERM)  # arrives inside the call
        rows.append(f"{kwargs['name']}:commit")
        return SimpleNamespace(model_uri="models:/m-1")

    monkeypatch.setattr(mlflow.pyfunc, "log_model", log_model)
    with pytest.raises(Stopped):
        log_pyfunc(uri, run_id, "echo", Echo(), {}, pd.DataFrame({"text": ["hi"]}))
    assert rows == ["echo:begin", "echo:commit"]  # the call finished first
    assert mlflow.active_run() is None  # and the fluent run was ended before the stop
    assert client.get_run(run_id).info.status == "FINISHED"
