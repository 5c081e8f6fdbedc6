"""The pretrain stage under torchrun (`pretrain.nproc_per_node`): its config keys and their
errors, a two-process gloo pretraining on CPU through the stage, resume after the stage
was killed, and a worker that dies. Every process the stage starts carries a marker in its
environment, so a test sees whatever was left running."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from karpa.align.stage import align, split_hints
from karpa.config import load_config
from karpa.demo import generate_world
from karpa.errors import ConfigError
from karpa.ingest.stage import ingest_table
from karpa.manifests import AlignManifest
from karpa.pretraining.stage import pretrain_foundation, pretrain_key
from karpa.pretraining.torchrun import TorchrunError, torchrun_command
from karpa.store import Store
from karpa.validation.stage import validate

REPO = Path(__file__).resolve().parents[2]
MARKER = "KARPA_TORCHRUN_TEST_MARKER"
# A model small enough that a step costs well under a second on a loaded 2-core CPU.
MICRO = """\
model:
  embed_dim: 32
  text: {vocab_size: 400, max_len: 24, width: 32, layers: 1, heads: 2, mlp_ratio: 2}
  image: {image_size: 32, patch_size: 8, width: 32, layers: 1, heads: 2, mlp_ratio: 2}
  behaviour: {max_len: 8, width: 32, layers: 1, heads: 2, mlp_ratio: 2}
train:
  steps: 6
  warmup_steps: 1
  batch_text: 16
  batch_pairs: 16
  batch_sequences: 8
  batch_items: 16
  text_views: crops
  log_every: 2
  checkpoint_every: 2
"""


def overrides(preset: Path, *extra: str) -> list[str]:
    return [
        f"pretrain.preset={preset}",
        "pretrain.progress=false",
        "pretrain.device=cpu",
        "pretrain.max_texts=300",
        "pretrain.checks={every: 3, k: 5, repeats: 1, max_val: 60}",
        *extra,
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, AlignManifest, Path]:
    """(the demo world's data folder, its aligned views, the micro preset)."""
    root = tmp_path_factory.mktemp("torchrun-world")
    generate_world(root / "data", scale=0.1, seed=3)
    cfg = load_config("demo", data_root=str(root / "data"))
    store = Store(root / "store")
    tables = {
        table: ingest_table(table, spec, cfg.data.root, cfg.ingest, store)
        for table, spec in cfg.data.sources.items()
    }
    validated = validate(tables, cfg.validate_, store)
    views = align(validated.accepted, cfg.align, store, split_hints(cfg.data.sources))
    (root / "micro.yaml").write_text(MICRO)
    return root / "data", views, root / "micro.yaml"


@pytest.fixture
def marker(monkeypatch) -> str:
    value = uuid.uuid4().hex
    monkeypatch.setenv(MARKER, value)
    return value


def marked(value: str, **env: str) -> list[int]:
    """Live processes whose environment carries the marker (and the given variables)."""
    wanted = {f"{MARKER}={value}".encode(), *(f"{k}={v}".encode() for k, v in env.items())}
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError):
            if int(entry.name) == os.getpid():
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z" and wanted <= set((entry / "environ").read_bytes().split(b"\0")):
                found.append(int(entry.name))
    return found


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def assert_nothing_left(value: str) -> None:
    with contextlib.suppress(AssertionError):
        wait_for(lambda: not marked(value), 30, "the torchrun processes to end")
    left = marked(value)
    for pid in left:  # leave the machine clean even when the test fails
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left running: {left}"


# ---- the config keys ----------------------------------------------------------------------


def test_one_process_by_default_and_each_layout_error_is_one_sentence():
    cfg = load_config("demo").pretrain
    assert (cfg.nproc_per_node, cfg.nnodes, cfg.node_rank, cfg.rdzv_endpoint) == (1, 1, 0, None)
    assert not cfg.distributed
    assert load_config("demo", ["pretrain.nproc_per_node=2"]).pretrain.distributed
    cases = {
        "pretrain.nproc_per_node=0": r"pretrain.nproc_per_node: Input should be greater than or "
        r"equal to 1 \(got 0\)",
        "pretrain.nproc_per_node=65": r"pretrain.nproc_per_node: .*less than or equal to 64",
        "pretrain.nnodes=2": r"pretrain: nnodes is 2 but rdzv_endpoint is not set",
        "pretrain.node_rank=1": r"pretrain: node_rank 1 is not below nnodes 1",
        "pretrain.rdzv_endpoint=node0": r"pretrain: rdzv_endpoint 'node0' is not host:port",
        "pretrain.rdzv_endpoint=node0:99999": r"pretrain: rdzv_endpoint 'node0:99999' is not ",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigError, match=r"demo with --set: " + message) as err:
            load_config("demo", [override])
        assert "\n" not in str(err.value)
    several = load_config(
        "demo",
        [
            "pretrain.nnodes=2",
            "pretrain.node_rank=1",
            "pretrain.rdzv_endpoint=10.0.0.5:29400",
            "pretrain.nproc_per_node=4",
        ],
    ).pretrain
    assert several.distributed


def test_the_layout_is_not_part_of_the_foundations_key(world):
    """A checkpoint written by two processes resumes on one, and the other way round."""
    _, views, preset = world
    one = load_config("demo", overrides(preset)).pretrain
    two = load_config("demo", overrides(preset, "pretrain.nproc_per_node=2")).pretrain
    assert pretrain_key(views, one, 0) == pretrain_key(views, two, 0)


def test_the_command_is_standalone_on_one_machine_and_a_rendezvous_across_several(tmp_path):
    one = load_config("demo", ["pretrain.nproc_per_node=2"]).pretrain
    cmd = torchrun_command(one, tmp_path / "spec.json", "key", tmp_path / "logs")
    assert cmd[1:3] == ["-m", "torch.distributed.run"]
    assert "--standalone" in cmd and "--rdzv-endpoint" not in cmd
    assert cmd[-3:] == ["-m", "karpa.pretraining.worker", str(tmp_path / "spec.json")]
    several = load_config(
        "demo",
        ["pretrain.nnodes=2", "pretrain.node_rank=1", "pretrain.rdzv_endpoint=node0:29400"],
    ).pretrain
    cmd = torchrun_command(several, tmp_path / "spec.json", "key", tmp_path / "logs")
    assert "--standalone" not in cmd
    for flag, value in [
        ("--nnodes", "2"),
        ("--node-rank", "1"),
        ("--rdzv-endpoint", "node0:29400"),
        ("--rdzv-backend", "static"),  # global ranks follow node ranks: rank 0 on node 0
        ("--rdzv-id", "key"),  # the foundation's key: the nodes of one job meet
    ]:
        assert cmd[cmd.index(flag) + 1] == value


def test_the_pipeline_runs_on_node_0(world, tmp_path):
    """Rank 0 writes the foundation and reports it: the pipeline's node must hold it."""
    _, views, preset = world
    cfg = load_config(
        "demo",
        overrides(
            preset, "pretrain.nnodes=2", "pretrain.node_rank=1", "pretrain.rdzv_endpoint=n0:29400"
        ),
    ).pretrain
    with pytest.raises(TorchrunError, match=r"^pretrain.node_rank is 1, but the pipeline runs"):
        pretrain_foundation(views, cfg, 0, Store(tmp_path / "store"))
    assert not list((tmp_path / "store").rglob("manifest.json"))


def test_a_torchrun_that_ends_without_a_worker_failure_names_the_endpoint(tmp_path):
    from karpa.pretraining.torchrun import _failure

    lines = ["torch.distributed.DistStoreError: Timed out after 901 seconds waiting for clients"]
    message = _failure(1, lines, tmp_path, "node0:29400")
    assert message == (
        "pretrain: torchrun (rendezvous at node0:29400) ended with exit code 1 and no result "
        f"from its workers; its log: {tmp_path / 'torchrun.log'}"
    )


def test_rank_0s_reports_reach_the_callbacks_and_a_pruning_hook_stops_the_run():
    from karpa.pretraining.torchrun import _forward

    seen, checks = [], []
    report = json.dumps({"step": 3, "metrics": {"check/combined": 0.5, "check/retrieval": 0.7}})
    _forward(report, lambda m, s: seen.append((s, m)), lambda s, v: checks.append((s, v)))
    assert seen == [(3, {"check/combined": 0.5, "check/retrieval": 0.7})]
    assert checks == [(3, 0.5)]

    def prune(step: int, score: float) -> None:
        raise RuntimeError(f"pruned at step {step}")

    _forward(json.dumps({"step": 2, "metrics": {"loss/total": 1.0}}), None, prune)  # no check
    with pytest.raises(RuntimeError, match="pruned at step 3"):
        _forward(report, None, prune)


# ---- real torchrun runs -------------------------------------------------------------------


@pytest.mark.slow
def test_two_processes_pretrain_a_foundation_that_loads(world, tmp_path, marker):
    from karpa_models.checkpoint import load_checkpoint
    from karpa_models.pretraining import load_foundation

    data, views, preset = world
    cfg = load_config("demo", overrides(preset, "pretrain.nproc_per_node=2"), data_root=str(data))
    seen: list[tuple[int, dict[str, float]]] = []
    m = pretrain_foundation(
        views,
        cfg.pretrain,
        0,
        Store(tmp_path / "store"),
        on_metrics=lambda d, s: seen.append((s, d)),
    )
    assert_nothing_left(marker)
    folder = Path(m.path)
    assert m.steps == 6 and m.resumed_from_step == 0 and not m.skipped
    assert (folder / "manifest.json").is_file()
    state = load_checkpoint(folder / "checkpoint.pt")
    assert state["step"] == 6 and len(state["rng"]) == 2  # written by a world of two
    model, tokenizer, _ = load_foundation(m.checkpoint)
    assert tokenizer.get_vocab_size() > 0 and model.cfg.behaviour.n_items == m.corpus["items"]
    # Rank 0 alone reported, live: the loss curve and the checks, each with its step.
    assert [s for s, d in seen if "loss/total" in d] == [2, 4, 6]
    assert [s for s, d in seen if "check/combined" in d] == [0, 3, 6]
    assert m.checks["kept_step"] in (0, 3, 6) and m.checks["sentence"]
    assert set(m.final_losses) == set(m.objectives) | {"total"}
    assert m.retrieval and m.samples_per_s > 0
    log = (folder / "torchrun.log").read_text()
    assert "rank0" in log and "rank 0 of 2" in log


def _stage_script(views: AlignManifest, store: Path, cfg_args: list[str], data: Path) -> str:
    return (
        "import json, sys\n"
        "from karpa.config import load_config\n"
        "from karpa.manifests import AlignManifest\n"
        "from karpa.pretraining.stage import pretrain_foundation\n"
        "from karpa.store import Store\n"
        f"views = AlignManifest.model_validate_json({views.model_dump_json()!r})\n"
        f"cfg = load_config('demo', {cfg_args!r}, data_root={str(data)!r})\n"
        f"m = pretrain_foundation(views, cfg.pretrain, 0, Store({str(store)!r}))\n"
        "print('RESULT', m.model_dump_json())\n"
    )


@pytest.mark.slow
def test_a_killed_stage_leaves_nothing_running_and_the_rerun_resumes(world, tmp_path, marker):
    """SIGKILL to the pipeline's process: torchrun and its workers die with it; the rerun
    resumes from rank 0's last checkpoint and completes the foundation."""
    data, views, preset = world
    args = overrides(preset, "pretrain.nproc_per_node=2", "pretrain.steps=40")
    cfg = load_config("demo", args, data_root=str(data))
    store = tmp_path / "store"
    folder = Store(store).path("foundations", pretrain_key(views, cfg.pretrain, 0))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    script = _stage_script(views, store, args, data)
    first = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=tmp_path)
    try:
        wait_for(lambda: (folder / "checkpoint.pt").is_file(), 300, "a first checkpoint")
        assert marked(marker, RANK="1"), "no torchrun worker of rank 1"
        first.kill()
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert_nothing_left(marker)
    assert not (folder / "manifest.json").exists()

    second = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert second.returncode == 0, second.stderr[-3000:]
    out = json.loads(second.stdout.split("RESULT ", 1)[1])
    assert out["steps"] == 40 and out["resumed_from_step"] >= 2
    assert "resuming" in (folder / "torchrun.log").read_text()
    assert_nothing_left(marker)


@pytest.mark.slow
def test_a_worker_that_dies_fails_the_stage_in_one_sentence_and_leaves_nothing(
    world, tmp_path, marker
):
    data, views, preset = world
    args = overrides(preset, "pretrain.nproc_per_node=2", "pretrain.steps=400")
    cfg = load_config("demo", args, data_root=str(data))
    store = Store(tmp_path / "store")
    folder = store.path("foundations", pretrain_key(views, cfg.pretrain, 0))
    killed: list[int] = []

    def kill_rank_1() -> None:
        pids = wait_for(lambda: marked(marker, RANK="1"), 300, "the worker of rank 1")
        wait_for(lambda: (folder / "checkpoint.pt").is_file(), 300, "a first checkpoint")
        os.kill(pids[0], signal.SIGKILL)
        killed.append(pids[0])

    killer = threading.Thread(target=kill_rank_1, daemon=True)
    killer.start()
    with pytest.raises(TorchrunError) as err:
        pretrain_foundation(views, cfg.pretrain, 0, store)
    killer.join(timeout=60)
    assert killed
    message = str(err.value)
    assert message.startswith(
        "pretrain: torchrun worker rank 1 was killed by SIGKILL (exit code -9); its log: "
    ), message
    assert "\n" not in message
    log = Path(message.rsplit("its log: ", 1)[1])
    assert log.is_file() and log.is_relative_to(folder)
    assert not (folder / "manifest.json").exists()  # nothing that looks complete
    assert not (folder / "torchrun-result.json").exists()
    assert_nothing_left(marker)


@pytest.mark.slow
def test_an_interrupt_in_the_stage_stops_torchrun_and_every_worker(world, tmp_path, marker):
    """A hook that raises (a pruned search trial; Ctrl-C takes the same path) while the
    workers train: the stage stops torchrun and its workers, and the error propagates."""
    data, views, preset = world
    args = overrides(preset, "pretrain.nproc_per_node=2", "pretrain.steps=400")
    cfg = load_config("demo", args, data_root=str(data))
    store = Store(tmp_path / "store")

    class Pruned(Exception):
        pass

    def on_check(step: int, score: float) -> None:
        if step >= 3:
            raise Pruned(f"pruned at step {step}")

    with pytest.raises(Pruned, match="pruned at step 3"):
        pretrain_foundation(views, cfg.pretrain, 0, store, on_check=on_check)
    assert not marked(marker), "torchrun or a worker outlived the stage"
    assert not list((tmp_path / "store").rglob("manifest.json"))
