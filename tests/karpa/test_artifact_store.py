"""Where `karpa deploy`'s MLflow server keeps artifacts: a folder (the home's by default)
or an S3 bucket, and one sentence for a destination that cannot be used."""

from __future__ import annotations

import pytest

from karpa.artifact_store import (
    ARTIFACTS_VAR,
    ArtifactStoreError,
    check_destination,
    configured_destination,
)
from karpa.home import Home
from karpa.servers import free_port


def test_default_flag_variable_and_forms(tmp_path, monkeypatch):
    home = Home(tmp_path / "home")
    monkeypatch.delenv(ARTIFACTS_VAR, raising=False)
    assert configured_destination(None, home) == str(home.artifacts)
    monkeypatch.setenv(ARTIFACTS_VAR, "s3://team-bucket/karpa/")
    assert configured_destination(None, home) == "s3://team-bucket/karpa"
    assert configured_destination(f"file://{tmp_path}/a", home) == str(tmp_path / "a")
    monkeypatch.chdir(tmp_path)
    assert configured_destination("store", home) == str(tmp_path / "store")


@pytest.mark.parametrize(
    ("raw", "rule"), [("s3://", "no bucket"), ("gs://b/p", "gs:// is not supported")]
)
def test_a_bad_destination_is_one_sentence(tmp_path, raw, rule):
    with pytest.raises(ArtifactStoreError, match=rule) as refused:
        configured_destination(raw, Home(tmp_path))
    assert str(refused.value).startswith(f"--artifacts-destination={raw}: ")


def test_a_folder_is_made_and_an_endpoint_that_does_not_answer_is_named(tmp_path, monkeypatch):
    check_destination(str(tmp_path / "a" / "b"))
    assert (tmp_path / "a" / "b").is_dir()
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(ArtifactStoreError) as refused:
        check_destination("s3://team/karpa")
    message = str(refused.value)
    assert message.startswith(f"the object store s3://team/karpa at {endpoint} cannot be reached")
    assert "\n" not in message
