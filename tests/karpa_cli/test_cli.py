"""`karpa run` with a bad override or data folder: one sentence and exit code 2, before any
run starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The `karpa` command, run as a module so that it is this checkout's code.
KARPA = [sys.executable, "-m", "karpa_cli"]


def test_bad_override_is_one_sentence_before_a_run(tmp_path):
    env = {**os.environ, "KARPA_HOME": str(tmp_path / "home")}
    proc = subprocess.run([*KARPA, "run", "--set", "finetune.foundation=chmpion"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == ["karpa: error: configs/demo.yaml with --set: finetune.foundation: Input "
                     "should be 'pretrain' or 'champion' (got 'chmpion')"], proc.stderr[-2000:]
    assert not (tmp_path / "home" / "failures.jsonl").exists()  # no flow run was started


def test_missing_data_folder_is_one_sentence_before_a_run(tmp_path):
    env = {**os.environ, "KARPA_HOME": str(tmp_path / "home")}
    missing = tmp_path / "no-such-folder"
    proc = subprocess.run([*KARPA, "run", "--config", "configs/real/banking77.yaml",
                           "--data", str(missing)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"karpa: error: --data: '{missing}' is not a folder (data.sources.messages.path is "
        "relative to it)"], proc.stderr[-2000:]
    assert not (tmp_path / "home" / "failures.jsonl").exists()  # no flow run was started
