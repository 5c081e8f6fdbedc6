"""Keeping the checkpoint pretraining is for, not simply the last one.

BestCheckpoint runs the downstream checks (checks.py) at step 0 and every `every` steps
and at the last step, reports them, and keeps the weights with the best combined check in
`foundation.pt` (the one checkpoint format; loads with load_foundation). A later
checkpoint replaces the start only when its combined score beats step 0's by more than
`min_gain`, so when pretraining only hurts, the foundation is the start.

Files beside the training checkpoint: `foundation.pt` (the kept weights with their check
record) and `checks.json` (every check so far). A resumed run keeps both: every record is
a measurement of weights that existed, and steps already checked are not checked again;
a run that starts from step 0 (`fresh`) removes them first.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from karpa_models.checkpoint import load_checkpoint, save_checkpoint
from karpa_models.checks import ChecksConfig, ChecksData, combined, run_checks
from karpa_models.pretrain_step import PretrainStep
from karpa_models.runtime import Runtime

logger = logging.getLogger(__name__)

FOUNDATION_NAME = "foundation.pt"
CHECKS_NAME = "checks.json"
OnCheck = Callable[[int, float], None]
MetricsCallback = Callable[[dict[str, float], int], None]


class BestCheckpoint:
    """Checks a training run and keeps its best weights (rank 0 only does anything).

    on_metrics receives `check/<name>` per check and `check/combined` with the step (the
    MLflow curves); on_check(step, combined score) is a plain hook for a caller that
    prunes on it (an Optuna trial): an exception it raises stops pretraining.
    """

    def __init__(
        self,
        data: ChecksData,
        cfg: ChecksConfig,
        folder: Path,
        runtime: Runtime,
        meta: dict[str, Any],
        on_metrics: MetricsCallback | None = None,
        on_check: OnCheck | None = None,
        fresh: bool = False,
    ):
        self.data, self.cfg, self.runtime, self.meta = data, cfg, runtime, meta
        self.path = Path(folder) / FOUNDATION_NAME
        self.history_path = Path(folder) / CHECKS_NAME
        self.on_metrics, self.on_check = on_metrics, on_check
        if fresh and runtime.is_main:  # a run that starts over owes nothing to an old one
            self.path.unlink(missing_ok=True)
            self.history_path.unlink(missing_ok=True)
        self.history: list[dict[str, Any]] = self._load()
        self.seconds: list[float] = []
        self.cpu_seconds: list[float] = []

    # ---- when ---------------------------------------------------------------------------

    def due(self, done: int, total: int) -> bool:
        if self.cfg.every < 1:
            return False
        checked = {r["step"] for r in self.history}
        return done not in checked and (done % self.cfg.every == 0 or done == total)

    # ---- what ---------------------------------------------------------------------------

    def check(self, step: int, step_module: PretrainStep) -> None:
        if not self.runtime.is_main:
            return
        started, cpu = time.perf_counter(), time.process_time()
        scores = run_checks(
            step_module.model, step_module.objectives, self.data, self.cfg, self.runtime
        )
        start = self.history[0]["scores"] if self.history else scores
        score = combined(scores, start, self.cfg)
        record = {"step": step, "scores": scores, "combined": score}
        best = self.best()
        better = best is None or (
            math.isfinite(score)
            and score > best["combined"]
            and score > self.history[0]["combined"] + self.cfg.min_gain
        )
        if better:
            self._save(step_module, record)
        self.history.append(record)
        self._write_history()
        seconds = time.perf_counter() - started
        self.seconds.append(seconds)
        self.cpu_seconds.append(time.process_time() - cpu)  # this process's, all threads
        logger.info(
            "checks at step %d (%.1f s): %s, combined %.4f%s",
            step,
            seconds,
            ", ".join(f"{k} {v:.4f}" for k, v in scores.items()),
            score,
            " (kept)" if better else "",
        )
        if self.on_metrics is not None:
            out = {f"check/{k}": v for k, v in scores.items()}
            out["check/combined"] = score
            out["check/seconds"] = seconds
            self.on_metrics(out, step)
        if self.on_check is not None:
            self.on_check(step, score)

    def best(self) -> dict[str, Any] | None:
        """The record of the kept weights (the start until something beats it)."""
        kept = [r for r in self.history if r.get("kept")]
        return kept[-1] if kept else None

    def summary(self) -> dict[str, Any]:
        """What the run kept and why, for the manifest."""
        best = self.best()
        start = self.history[0] if self.history else None
        return {
            "rule": self.cfg.to_dict(),
            "history": self.history,
            "kept_step": best["step"] if best else None,
            "kept_combined": best["combined"] if best else None,
            "start_combined": start["combined"] if start else None,
            "start_kept": bool(best and start and best["step"] == start["step"]),
            "seconds_per_check": _mean(self.seconds),
            "cpu_seconds_per_check": _mean(self.cpu_seconds),
        }

    # ---- files --------------------------------------------------------------------------

    def _save(self, step_module: PretrainStep, record: dict[str, Any]) -> None:
        for r in self.history:
            r.pop("kept", None)
        record["kept"] = True
        save_checkpoint(
            self.path,
            {
                "step": record["step"],
                "model": step_module.model.state_dict(),
                "objectives": step_module.objectives.state_dict(),
                "checks": json.dumps(record),
                **self.meta,
            },
        )

    def _write_history(self) -> None:
        tmp = self.history_path.with_name(f".{CHECKS_NAME}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self.history, indent=1))
        os.replace(tmp, self.history_path)

    def _load(self) -> list[dict[str, Any]]:
        history = json.loads(self.history_path.read_text()) if self.history_path.is_file() else []
        if self.path.is_file():
            # foundation.pt is written before checks.json: a crash in between leaves its
            # record out of the history, and it is what the file holds.
            kept = json.loads(load_checkpoint(self.path).get("checks", "{}"))
            if kept and kept["step"] not in {r["step"] for r in history}:
                history = sorted([*history, kept], key=lambda r: r["step"])
            for r in history:
                r["kept"] = r["step"] == kept.get("step")
        return history


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
