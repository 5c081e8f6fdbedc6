"""Where a new experiment's artifacts go: the home's folder for the embedded store, the
server's choice (`mlflow-artifacts:` under `karpa deploy`) for a tracking server; and
artifact transfers go through the server unless the user says otherwise."""

from __future__ import annotations

import os

import pytest

from karpa.tracking import Tracker
from karpa.tracking.runs import is_tracking_server


def test_the_embedded_store_keeps_artifacts_in_the_home(home, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracker = Tracker(home, "located")
    experiment = tracker.client.get_experiment(tracker.experiment_id)
    assert experiment.artifact_location == (home.artifacts / "located").as_uri()


@pytest.mark.parametrize(
    ("uri", "server"),
    [
        ("http://127.0.0.1:5000", True),
        ("https://mlflow.team.internal", True),
        ("sqlite:////home/me/.karpa/mlflow.db", False),
        ("postgresql+psycopg://u@db/karpa_mlflow", False),
    ],
)
def test_only_a_tracking_server_chooses_the_location(uri, server):
    assert is_tracking_server(uri) is server


def test_transfers_go_through_the_server_by_default():
    for name in ("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"):
        assert os.environ[name] == "false"
