"""The pretrain stage under torchrun: `pretrain.nproc_per_node` processes on this machine
(and `pretrain.nnodes` machines meeting at `pretrain.rdzv_endpoint`).

The stage writes a spec file into the foundation's folder, launches
`python -m torch.distributed.run ... -m karpa.pretraining.worker SPEC` as a child process
and waits for it. Every line the workers print goes to `torchrun.log` in that folder and
to this module's logger (so a Prefect run shows the progress lines); rank 0's metrics
lines are handed to `on_metrics` as they come, as the in-process path would. Rank 0
writes checkpoints, the kept foundation and, last, the result this returns; a rerun after
a kill resumes from the checkpoint like a single process does.

A worker that dies fails the stage with one sentence naming its rank, exit code and log
file. On failure or interrupt the launcher stops torchrun and every process under it, and
the workers die with torchrun even when it is killed outright (worker.die_with_parent).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from karpa.config import PretrainConfig
from karpa.errors import KarpaError
from karpa.manifests import AlignManifest
from karpa.pretraining.worker import METRICS_MARK, RESULT_NAME, die_with_parent

if TYPE_CHECKING:  # torch is imported where it is used
    from karpa_models.pretraining import PretrainResult

log = logging.getLogger(__name__)

MetricsCallback = Callable[[dict[str, float], int], None]
OnCheck = Callable[[int, float], None]
SPEC_NAME = "torchrun-spec.json"
LOG_NAME = "torchrun.log"
LOG_DIR = "torchrun-logs"
# torchrun's prefix on a worker's teed line ("[default0]:", role and local rank), and the
# worker's own time stamp, which the forwarding logger repeats.
_PREFIX = re.compile(r"^\[[A-Za-z_]*\d+\]:")
_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")
STOP_GRACE_S = 15.0


class TorchrunError(KarpaError):
    """A torchrun pretraining that did not finish, in one sentence. Not retried by the
    task: the rerun that a person starts resumes from the last checkpoint."""


def torchrun_command(cfg: PretrainConfig, spec: Path, rdzv_id: str, log_dir: Path) -> list[str]:
    """The command line: standalone on one machine; across several, a static rendezvous
    at node 0's endpoint, so that global ranks follow node ranks and rank 0 (which writes
    and reports) is on node 0, the pipeline's machine."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        str(cfg.nproc_per_node),
    ]
    if cfg.nnodes == 1 and cfg.rdzv_endpoint is None:
        cmd.append("--standalone")
    else:
        cmd += [
            "--nnodes",
            str(cfg.nnodes),
            "--node-rank",
            str(cfg.node_rank),
            "--rdzv-backend",
            "static",
            "--rdzv-endpoint",
            str(cfg.rdzv_endpoint),
            "--rdzv-id",
            rdzv_id,
        ]
    # Each worker's output in its own file as well as on torchrun's (the failure names it).
    cmd += ["--log-dir", str(log_dir), "--tee", "3", "-m", "karpa.pretraining.worker", str(spec)]
    return cmd


def pretrain_with_torchrun(
    views: AlignManifest,
    cfg: PretrainConfig,
    seed: int,
    folder: Path,
    on_metrics: MetricsCallback | None = None,
    on_check: OnCheck | None = None,
) -> PretrainResult:
    """Pretrain under torchrun into `folder` and return what pretrain() returned on rank 0."""
    from karpa_models.pretraining import PretrainResult

    if cfg.node_rank != 0:
        raise TorchrunError(
            f"pretrain.node_rank is {cfg.node_rank}, but the pipeline runs on node 0, which "
            "holds rank 0 (it writes the foundation and reports it); start torchrun on the "
            "other nodes with the command the pipeline's pretrain stage logs"
        )
    _check_devices(cfg)
    spec = folder / SPEC_NAME
    spec.write_text(
        json.dumps(
            {
                "views": views.path,
                "pretrain": cfg.model_dump(mode="json"),
                "seed": seed,
                "folder": str(folder),
            },
            indent=1,
        )
    )
    result_path = folder / RESULT_NAME
    result_path.unlink(missing_ok=True)  # only this launch's result counts
    cmd = torchrun_command(cfg, spec, folder.name, folder / LOG_DIR)
    log.info(
        "pretrain: torchrun, %d process(es) per node on %d node(s); log %s",
        cfg.nproc_per_node,
        cfg.nnodes,
        folder / LOG_NAME,
    )
    if cfg.nnodes > 1:
        other = [*cmd]
        other[other.index("--node-rank") + 1] = "<RANK>"
        log.info(
            "pretrain: on each other node (its rank 1..%d), with this store shared: %s",
            cfg.nnodes - 1,
            shlex.join(other),
        )
    code, lines = _run(cmd, folder / LOG_NAME, _env(cfg), on_metrics, on_check)
    if code != 0 or not result_path.is_file():
        raise TorchrunError(_failure(code, lines, folder, cfg.rdzv_endpoint))
    body = json.loads(result_path.read_text())
    body["checkpoint_path"] = Path(body["checkpoint_path"])
    body["tokenizer_path"] = Path(body["tokenizer_path"])
    return PretrainResult(**body)


def _check_devices(cfg: PretrainConfig) -> None:
    import torch

    on_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if on_cuda and cfg.nproc_per_node > torch.cuda.device_count():
        raise TorchrunError(
            f"pretrain.nproc_per_node is {cfg.nproc_per_node} but this machine has "
            f"{torch.cuda.device_count()} CUDA device(s): one process drives one GPU"
        )


def _env(cfg: PretrainConfig) -> dict[str, str]:
    import karpa

    env = dict(os.environ)
    # The workers import karpa from where this process did, installed or a checkout.
    root = str(Path(karpa.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    # The machine's cores shared between the processes (torchrun would give each one).
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // cfg.nproc_per_node)))
    return env


def _run(
    cmd: list[str],
    log_path: Path,
    env: dict[str, str],
    on_metrics: MetricsCallback | None,
    on_check: OnCheck | None,
) -> tuple[int, list[str]]:
    """Run torchrun to its end, forwarding lines -> (exit code, its last lines)."""
    tail: list[str] = []
    with open(log_path, "a") as out:
        out.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(cmd)}\n")
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",  # a worker's stray bytes must not end the stage
            bufsize=1,
            env=env,
            start_new_session=True,  # one group to stop, apart from the pipeline's own
            preexec_fn=die_with_parent,  # and it dies with this process, even by SIGKILL
        )
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                out.write(raw)
                line = _PREFIX.sub("", raw.rstrip("\n"), count=1)
                tail = [*tail[-199:], line]
                if METRICS_MARK in line:
                    _forward(line.split(METRICS_MARK, 1)[1], on_metrics, on_check)
                elif line.strip():
                    log.info("%s", _STAMP.sub("", line, count=1))
            return proc.wait(), tail
        finally:  # an interrupt, or on_metrics / on_check raising
            if proc.poll() is None:
                stop(proc)


def _forward(text: str, on_metrics: MetricsCallback | None, on_check: OnCheck | None) -> None:
    report = json.loads(text)
    step, metrics = int(report["step"]), report["metrics"]
    if on_metrics is not None:
        on_metrics(metrics, step)
    if on_check is not None and "check/combined" in metrics:
        on_check(step, float(metrics["check/combined"]))  # may raise: stops the run


def stop(proc: subprocess.Popen) -> None:
    """Stop torchrun and everything under it: SIGTERM first (torchrun then stops its
    workers, each in a session of its own), SIGKILL to whatever is left after a grace."""
    family = [*_descendants(proc.pid)]
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + STOP_GRACE_S
    family += [p for p in _descendants(proc.pid) if p not in family]
    while (alive := [p for p in family if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _descendants(pid: int) -> list[int]:
    """Processes below `pid` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


_ROOT_RANK = re.compile(r"\brank\s*:\s*(\d+)")
_ROOT_CODE = re.compile(r"\bexitcode\s*:\s*(-?\d+)")


def _failure(code: int, lines: list[str], folder: Path, endpoint: str | None = None) -> str:
    """One sentence: which rank died, with what exit code, and where its log is (and the
    rendezvous endpoint of several machines, the first suspect when none started)."""
    who = f"torchrun (rendezvous at {endpoint})" if endpoint else "torchrun"
    text = "\n".join(lines)
    root = text.rsplit("Root Cause", 1)[-1] if "Root Cause" in text else ""
    rank = _ROOT_RANK.search(root)
    exit_code = _ROOT_CODE.search(root)
    if rank is None:
        return (
            f"pretrain: {who} ended with exit code {code} and no result from its workers; "
            f"its log: {folder / LOG_NAME}"
        )
    worker_code = int(exit_code.group(1)) if exit_code else code
    how = (
        f"was killed by {signal.Signals(-worker_code).name} (exit code {worker_code})"
        if worker_code < 0 and -worker_code in signal.valid_signals()
        else f"exited with code {worker_code}"
    )
    where = _rank_log(folder, int(rank.group(1)))
    return f"pretrain: {who} worker rank {rank.group(1)} {how}; its log: {where}"


def _rank_log(folder: Path, rank: int) -> Path:
    """The worker's own output under torchrun's --log-dir (the newest attempt), else the
    combined log. On one node the local rank is the rank."""
    found = sorted(
        (folder / LOG_DIR).glob(f"*/attempt_*/{rank}/stderr.log"), key=lambda p: p.stat().st_mtime
    )
    return found[-1] if found else folder / LOG_NAME
