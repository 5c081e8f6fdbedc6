"""tracking_uri: a block that points MLflow's fluent API at one store leaves nothing of it
behind, so a later client of another store in the same process finds that store's registry
(before, a team-server test that ran after a local pipeline run in one pytest process read
the local registry and found no model there); and registering a logged model does not
depend on where the fluent API points (before, it worked only because of that leak)."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from mlflow.tracking._model_registry import utils as registry_utils
from mlflow.tracking._tracking_service import utils as tracking_utils

from karpa.tracking.fluent import tracking_uri
from karpa.tracking.registry import CHALLENGER, Registry


@pytest.fixture
def no_uri_set(monkeypatch):
    """No store named anywhere, as in a new process; this process's settings after."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setattr(registry_utils, "_registry_uri", None)


def test_a_later_client_of_another_store_uses_that_stores_registry(tmp_path, no_uri_set):
    before = mlflow.get_tracking_uri()
    inside = f"sqlite:///{tmp_path / 'local.db'}"
    with tracking_uri(inside):
        assert mlflow.get_tracking_uri() == inside
        assert mlflow.get_registry_uri() == inside
    assert mlflow.get_tracking_uri() == before
    team = f"sqlite:///{tmp_path / 'team.db'}"
    assert MlflowClient(tracking_uri=team)._registry_uri == team


def test_the_settings_come_back_when_the_block_fails(tmp_path, no_uri_set):
    with pytest.raises(RuntimeError), tracking_uri(f"sqlite:///{tmp_path / 'local.db'}"):
        raise RuntimeError("the call failed")
    team = f"sqlite:///{tmp_path / 'team.db'}"
    assert MlflowClient(tracking_uri=team)._registry_uri == team


def test_a_logged_model_registers_in_its_own_store_wherever_mlflow_points(tmp_path, no_uri_set):
    local = f"sqlite:///{tmp_path / 'local.db'}"
    client = MlflowClient(local, registry_uri=local)
    logged = client.create_logged_model(client.create_experiment("runs"), name="intent")
    registry = Registry(local, tmp_path / "audit.jsonl")
    with tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}"):
        version = registry.register("karpa-intent", f"models:/{logged.model_id}", None, {})
    assert registry.alias_version("karpa-intent", CHALLENGER) == version == "1"
    assert client.get_model_version("karpa-intent", "1").source == f"models:/{logged.model_id}"
