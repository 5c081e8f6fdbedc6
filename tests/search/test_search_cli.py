"""`karpa search` from a shell: the three kinds of bad input are one sentence each before
anything starts, and `--save-preset NAME --pick TRIAL` writes a stored trial as a preset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from karpa.search.study import default_storage, run_search

REPO = Path(__file__).resolve().parents[2]
KARPA = [sys.executable, "-m", "karpa_cli"]


def _karpa(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "KARPA_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [*KARPA, "search", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (
            [
                "--set",
                "search.space={width: [64], layers: [2], heads: [4], mlp_ratio: [4], "
                "patch_size: [8], behaviour_max_len: [32], lr: {low: 0.001, high: 0.001}, "
                "loss_weights: {}, finetune_lr: {low: 0.001, high: 0.001}}",
            ],
            "configs/demo.yaml with --set: search.space: every dimension has a single "
            "value, so the search space is empty; give one a second choice or a range",
        ),
        (
            ["--objectives", "quality,latency_p99"],
            "configs/demo.yaml with parameters: search.objectives: unknown objective "
            "'latency_p99' (known: quality, intent, sentiment, recommendation, latency_p50, "
            "latency_p95, params); did you mean 'latency_p95'?",
        ),
    ],
)
def test_bad_input_is_one_sentence(args, sentence, tmp_path):
    proc = _karpa(args, tmp_path / "home")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [f"karpa: error: {sentence}"]
    assert not (tmp_path / "home" / "search").exists()  # no study was opened


def test_a_budget_too_small_for_one_trial_is_one_sentence(tmp_path):
    proc = _karpa(
        ["--budget-minutes", "0.001", "--set", "search.pretrain_steps=100"], tmp_path / "home"
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith(
        "karpa: error: search.budget_minutes: 0.001 min is too small for one trial "
        "(pretraining alone of the space's smallest architecture for 100 steps takes about"
    )
    assert not (tmp_path / "home" / "search").exists()


@pytest.mark.slow
def test_pick_writes_a_stored_trial_as_a_preset(
    search_world, search_cfg, search_overrides, tmp_path
):
    data, views = search_world
    home = tmp_path / "home"
    extra = ["search.trials=2", "search.pruner=none"]
    result = run_search(search_cfg(*extra), views, tmp_path / "work", default_storage(home))
    sets = [arg for o in [*search_overrides, *extra] for arg in ("--set", o)]
    proc = _karpa(
        [
            *sets,
            "--data",
            str(data),
            "--save-preset",
            "picked",
            "--pick",
            "1",
            "--preset-dir",
            str(tmp_path / "presets"),
        ],
        home,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = tmp_path / "presets" / "picked.yaml"
    assert f"Preset 'picked' written to {path}: trial 1" in proc.stdout
    origin = yaml.safe_load(path.read_text())["origin"]
    assert origin["trial"] == 1 and origin["chosen_by"] == "picked by hand (--pick 1)"
    assert origin["params"] == result.records[1].params

    proc = _karpa([*sets, "--data", str(data), "--save-preset", "x", "--pick", "7"], home)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["karpa: error: --pick 7: the study has no trial 7"]
    proc = _karpa([*sets, "--save-preset", "tiny", "--pick", "1"], home)
    assert proc.returncode == 2 and "not a shipped preset" in proc.stderr
