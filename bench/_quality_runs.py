"""How bench/quality.py runs karpa: the pipeline's stage functions called directly (no
Prefect, no MLflow, as in bench/overhead.py) on a preset of configs/real, each run in a
fresh process; and the small samples of the public datasets that --quick runs on."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import show_progress

from karpa.config import CONFIGS

logger = logging.getLogger("bench.quality")
PRESETS = CONFIGS / "real"


@dataclass
class PipelineRun:
    """One pass ingest -> fine-tune: the application's report and where the time went."""

    label: str
    report: dict[str, Any]
    views: Path
    seconds: dict[str, float] = field(default_factory=dict)
    pretrain_steps: int = 0
    samples_per_s: float = 0.0  # pretraining throughput over its steps after the first
    pretrain_reused: bool = False  # the store held this foundation: an earlier run's
    # The pipeline process's peak resident memory (MB) as each stage ended: the stage
    # whose figure jumps is the one that set the peak.
    peak_mb: dict[str, float] = field(default_factory=dict)
    # The pretraining checks' one-sentence verdict (which checkpoint is the foundation),
    # empty when the checks were off or the foundation was reused.
    pretrain_verdict: str = ""

    @classmethod
    def from_json(cls, run: dict[str, Any]) -> PipelineRun:
        """A run as a result file holds it (TaskResult.to_json); its views went with the
        bench's scratch folder."""
        return cls(
            run["label"],
            run["report"],
            Path(),
            run["seconds"],
            run["pretrain_steps"],
            run["pretrain_samples_per_s"],
            run.get("pretrain_reused", False),
            run.get("peak_mb", {}),
            run.get("pretrain_verdict", ""),
        )

    def timing(self) -> str:
        s = self.seconds
        inner = ", ".join(
            f"{k.removesuffix('_s')} {v:.0f} s"
            for k, v in self.report.get("timings", {}).items()
            if k != "total_s"
        )
        # The engine times every step but the first; with one step there is no rate.
        rate = (
            f", {self.samples_per_s:.1f} samples/s after the first step"
            if self.samples_per_s
            else ""
        )
        pretrained = (
            f"an earlier run's foundation reused, {self.pretrain_steps} step(s)"
            if self.pretrain_reused
            else f"{self.pretrain_steps} step(s) and setup{rate}"
        )
        peaks = (
            "; peak resident MB after "
            + ", ".join(f"{stage} {mb:,.0f}" for stage, mb in self.peak_mb.items())
            if self.peak_mb
            else ""
        )
        verdict = f"; checks: {self.pretrain_verdict}" if self.pretrain_verdict else ""
        return (
            f"{self.label}: ingest+validate+align {s['prepare']:.0f} s, pretrain "
            f"{s['pretrain']:.0f} s ({pretrained}), "
            f"fine-tune+evaluate {s['finetune']:.0f} s ({inner}){peaks}{verdict}"
        )


class Elapsed(logging.Formatter):
    """Log lines prefixed with the seconds since `since` (a time.time())."""

    def __init__(self, since: float):
        super().__init__("%(message)s")
        self.since = since

    def format(self, record: logging.LogRecord) -> str:
        return f"[{record.created - self.since:7.1f} s] {super().format(record)}"


def setup_logging(since: float | None = None) -> float:
    """The bench's own progress lines and the fine-tunes' (_common.show_progress), timed
    from `since` (default now, for the bench's process; a pipeline's process gets the
    bench's). -> since"""
    since = time.time() if since is None else since
    show_progress(Elapsed(since))
    # Banking77 has no out-of-scope messages, so intent warns that its threshold stays 0.
    logging.getLogger("karpa.applications.intent").setLevel(logging.ERROR)
    return since


def pretrain_progress(label: str, every_s: float = 30.0) -> Callable[[dict, int], None]:
    """Pretraining's metrics callback: a progress line at most every `every_s` seconds."""
    last = [time.perf_counter()]

    def report(metrics: dict[str, float], step: int) -> None:
        # The checks report too (at step 0 before any loss): only training steps count.
        if "loss/total" in metrics and time.perf_counter() - last[0] >= every_s:
            last[0] = time.perf_counter()
            logger.info(
                "  %s: pretrain step %d, loss %.3f, eta %.0f s",
                label,
                step,
                metrics["loss/total"],
                metrics.get("eta_s", 0.0),
            )

    return report


def run_pipeline(
    preset: str, data: Path, store_root: Path, sets: list[str], label: str, log_since: float
) -> PipelineRun:
    """The stage functions one after another (no Prefect, no MLflow), up to fine-tune, in
    a fresh process: a process keeps the memory its earlier pipelines allocated, and a
    MiniLM-started pretraining after three other pipelines in one process was killed for
    memory on a 23 GB machine. Same threads and logging as this process."""
    import multiprocessing

    import torch

    out = store_root.parent / "pipeline-runs" / f"{label.replace(' ', '_')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    # spawn, not fork: a fresh interpreter (the point), and torch is not fork-safe after
    # its thread pools started. Not a Pool: its daemonic workers may not start the
    # pretraining DataLoader's worker.
    child = multiprocessing.get_context("spawn").Process(
        target=_run_and_save,
        args=(preset, data, store_root, sets, label, out, torch.get_num_threads(), log_since),
        name=f"pipeline {label}",
    )
    child.start()
    try:
        child.join()
    finally:
        # A bench stopped by Ctrl-C or `kill` takes its pipeline with it, instead of
        # leaving a pretraining running, and holding memory, with no one to read it.
        if child.is_alive():
            child.terminate()
            child.join()
    if child.exitcode != 0:
        killed = " (killed by a signal: out of memory?)" if child.exitcode < 0 else ""
        raise RuntimeError(
            f"{label}: the pipeline's process exited with {child.exitcode}"
            f"{killed}; its log lines are above"
        )
    saved = json.loads(out.read_text())
    return PipelineRun(**{**saved, "views": Path(saved["views"])})


def _run_and_save(
    preset: str,
    data: Path,
    store_root: Path,
    sets: list[str],
    label: str,
    out: Path,
    threads: int,
    log_since: float,
) -> None:
    """The child process's whole job: run_pipeline's work, its result written to `out`."""
    import torch
    from threadpoolctl import threadpool_limits

    setup_logging(log_since)
    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):
        run = _run_stages(preset, data, store_root, sets, label)
    out.write_text(json.dumps({**dataclasses.asdict(run), "views": str(run.views)}, default=str))


def _run_stages(
    preset: str, data: Path, store_root: Path, sets: list[str], label: str
) -> PipelineRun:
    """ingest -> validate -> align -> pretrain -> fine-tune and evaluate, timed."""
    from _common import direct_views

    from karpa.allocators import bound_heap
    from karpa.config import load_config
    from karpa.finetuning import run_application
    from karpa.pretraining.stage import pretrain_foundation
    from karpa.store import Store

    logger.info("%s: ingest, validate, align", label)
    began = time.perf_counter()
    cfg = load_config(
        PRESETS / f"{preset}.yaml", ["until=finetune", "pretrain.progress=false", *sets], str(data)
    )
    bound_heap(cfg)  # as the pipeline flow does where it starts
    store = Store(store_root)
    views = direct_views(cfg, store)
    seconds = {"prepare": time.perf_counter() - began}
    peak_mb = {"prepare": _peak_mb()}

    logger.info(
        "%s: pretrain (%s preset%s)",
        label,
        cfg.pretrain.preset,
        f", text tower from {cfg.pretrain.text_init}" if cfg.pretrain.text_init else "",
    )
    began = time.perf_counter()
    foundation = pretrain_foundation(
        views, cfg.pretrain, cfg.seed, store, on_metrics=pretrain_progress(label)
    )
    seconds["pretrain"] = time.perf_counter() - began
    peak_mb["pretrain"] = _peak_mb()

    (app,) = cfg.finetune.applications
    logger.info("%s: fine-tune and evaluate %s", label, app)
    began = time.perf_counter()
    manifest = run_application(app, views, foundation, cfg.finetune, store)
    seconds["finetune"] = time.perf_counter() - began
    peak_mb["finetune"] = _peak_mb()
    run = PipelineRun(
        label,
        json.loads(Path(manifest.report).read_text()),
        Path(views.path),
        seconds,
        foundation.steps,
        foundation.samples_per_s,
        foundation.skipped,
        peak_mb,
        foundation.checks.get("sentence", ""),
    )
    logger.info("  %s", run.timing())
    return run


def _peak_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def subsample(task: str, source: Path, out: Path) -> Path:
    """--quick: a small, consistent sample of a task's files, written under `out` (a
    scratch folder, never the repository)."""
    out.mkdir(parents=True, exist_ok=True)
    if task == "banking77":
        for split in ("train", "test"):
            with (source / f"{split}.csv").open(newline="") as f:
                lines = list(csv.reader(f))
            with (out / f"{split}.csv").open("w", newline="") as f:
                csv.writer(f).writerows([lines[0], *lines[1::20]])
    elif task.startswith("phrasebank"):
        name = "Sentences_50Agree.txt" if task == "phrasebank" else "Sentences_AllAgree.txt"
        lines = (source / name).read_bytes().splitlines(keepends=True)
        (out / name).write_bytes(b"".join(lines[::16]))
    else:
        # MovieLens: the 110 users with the fewest ratings, whole (align wants 100 evaluable
        # users), so the catalogue of movies they rated is small (every item is encoded).
        (out / "tags.csv").write_bytes((source / "tags.csv").read_bytes())
        lines = (source / "ratings.csv").read_text().splitlines(keepends=True)
        users = Counter(int(ln.split(",", 1)[0]) for ln in lines[1:])
        lightest = set(sorted(users, key=lambda u: (users[u], u))[:110])
        kept = [ln for ln in lines[1:] if int(ln.split(",", 1)[0]) in lightest]
        (out / "ratings.csv").write_text(lines[0] + "".join(kept))
        rated = {ln.split(",")[1] for ln in kept}
        with (source / "movies.csv").open(newline="") as f:
            movies = list(csv.reader(f))
        with (out / "movies.csv").open("w", newline="") as f:
            csv.writer(f).writerows([movies[0], *(m for m in movies[1:] if m[0] in rated)])
    return out
