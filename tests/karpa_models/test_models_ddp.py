"""Data-parallel pretraining: two CPU processes under torchrun, gloo backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_process_torchrun_on_cpu(tmp_path, corpus, make_configs):
    model_cfg, train_cfg = make_configs(steps=4, log_every=2, checkpoint_every=2)
    preset = tmp_path / "preset.yaml"
    preset.write_text(yaml.safe_dump({"model": model_cfg.to_dict(), "train": train_cfg.to_dict()}))
    corpus.save(tmp_path / "corpus")
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "karpa_models.launch",
        "--corpus",
        str(tmp_path / "corpus"),
        "--preset",
        str(preset),
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]

    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["step"] == 4
    assert len(state["rng"]) == 2  # each rank's RNG, for an exact resume of both
    assert not torch.equal(
        state["rng"][0]["torch"], state["rng"][1]["torch"]
    )  # own dropout streams
    assert not any(k.startswith("module.") for k in state["model"])  # the unwrapped model
    # Only rank 0 reported: one metrics line per log step, and one result.
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [2, 4]
    result = json.loads((out / "result.json").read_text())
    assert result["steps"] == 4 and set(result["final_losses"]) >= set(result["active_objectives"])
    # No stray temporary checkpoint from a second writer.
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "metrics.jsonl",
        "result.json",
        "tokenizer.json",
    ]

    # Both ranks resume from rank 0's checkpoint, each with its own RNG state.
    proc = subprocess.run(
        [*cmd, "--steps", "6"], cwd=REPO, env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 6
    assert json.loads((out / "result.json").read_text())["resumed_from_step"] == 4
