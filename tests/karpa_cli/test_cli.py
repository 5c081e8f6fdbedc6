"""`karpa run` with a bad override or data folder: one sentence and exit code 2, before any
run starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from karpa_cli.main import main

REPO = Path(__file__).resolve().parents[2]
# The `karpa` command, run as a module so that it is this checkout's code.
KARPA = [sys.executable, "-m", "karpa_cli"]


def test_bad_override_is_one_sentence_before_a_run(tmp_path):
    env = {**os.environ, "KARPA_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [*KARPA, "run", "--set", "finetune.foundation=chmpion"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "karpa: error: configs/demo.yaml with --set: finetune.foundation: Input "
        "should be 'pretrain' or 'champion' (got 'chmpion')"
    ], proc.stderr[-2000:]
    assert not (tmp_path / "home" / "failures.jsonl").exists()  # no flow run was started


def test_missing_data_folder_is_one_sentence_before_a_run(tmp_path):
    env = {**os.environ, "KARPA_HOME": str(tmp_path / "home")}
    missing = tmp_path / "no-such-folder"
    proc = subprocess.run(
        [*KARPA, "run", "--config", "configs/real/banking77.yaml", "--data", str(missing)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"karpa: error: --data: '{missing}' is not a folder (data.sources.messages.path is "
        "relative to it)"
    ], proc.stderr[-2000:]
    assert not (tmp_path / "home" / "failures.jsonl").exists()  # no flow run was started


@pytest.mark.parametrize(
    ("override", "sentence"),
    [
        (
            "finetune.intent.epochz=3",
            "configs/demo.yaml with --set: unknown key "
            "'finetune.intent.epochz'; did you mean 'finetune.intent.epochs'?",
        ),
        (
            "finetune.sentiment.epochs=three",
            "configs/demo.yaml with --set: "
            "finetune.sentiment.epochs: Input should be a valid integer, unable to parse string "
            "as an integer (got 'three')",
        ),
        (
            "pretrain.preset=tiniest",
            "configs/demo.yaml with --set: pretrain.preset: unknown "
            "model preset 'tiniest' (known: tiny, small, base, or a YAML file); did you mean "
            "'tiny'?",
        ),
        ("key", "--set 'key': expected KEY=VALUE, for example ingest.batch_rows=50000"),
    ],
)
def test_bad_set_is_refused_before_any_flow_or_tracking_run(
    override, sentence, tmp_path, monkeypatch, capsys
):
    """In-process: the return code, the one sentence, and neither a flow run nor an
    MLflow store."""
    import flows.retrain

    def no_flow_run(*args, **kwargs):
        raise AssertionError("a flow run was started")

    monkeypatch.setattr(flows.retrain, "retrain", no_flow_run)
    monkeypatch.setattr(os, "environ", dict(os.environ))  # the home's settings stay here
    monkeypatch.chdir(REPO)
    home = tmp_path / "home"
    assert main(["--home", str(home), "run", "--set", override]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"karpa: error: {sentence}"]
    assert not list(home.rglob("mlflow.db")) and not list(home.rglob("mlruns"))
