"""The entry point torchrun starts once per process for the pretrain stage:

    python -m torch.distributed.run ... -m karpa.pretraining.worker SPEC.json

SPEC.json is written by the stage (karpa/pretraining/torchrun.py) into the foundation's
folder: the views, the pretrain config, the seed and that folder. Every rank rebuilds the
same inputs from the views and calls the same `pretrain()` as the in-process path, which
joins torchrun's process group and lets rank 0 alone write checkpoints and the kept
foundation. Rank 0 prints each metrics report as one marked line for the stage to forward
(tracking stays in the stage's process), and writes the result last, atomically.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

METRICS_MARK = "KARPA-METRICS "
RESULT_NAME = "torchrun-result.json"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Be killed when the process that started this one dies, however it dies (Linux):
    torchrun starts each worker in a session of its own, so a SIGKILLed torchrun would
    otherwise leave its workers waiting on their peers."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)


def read_spec(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m karpa.pretraining.worker SPEC.json", file=sys.stderr)
        return 2
    die_with_parent()
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format=f"%(asctime)s rank{rank} %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    from karpa.config import PretrainConfig
    from karpa.pretraining.inputs import pretrain_inputs
    from karpa_models.pretraining import pretrain

    spec = read_spec(Path(args[0]))
    cfg = PretrainConfig.model_validate(spec["pretrain"])
    seed, folder = int(spec["seed"]), Path(spec["folder"])
    model_cfg, train_cfg = cfg.model_configs(seed)
    # A progress bar redraws with carriage returns; through a pipe the log lines say it.
    train_cfg = dataclasses.replace(train_cfg, progress=False)
    inputs = pretrain_inputs(Path(spec["views"]), cfg, seed)

    def on_metrics(metrics: dict[str, float], step: int) -> None:
        # One write well below PIPE_BUF: lines of several ranks never interleave inside it.
        line = json.dumps({"step": step, "metrics": metrics})
        sys.stdout.write(f"{METRICS_MARK}{line}\n")
        sys.stdout.flush()

    result = pretrain(
        inputs.corpus,
        model_cfg,
        train_cfg,
        folder,
        on_metrics=on_metrics,
        resume=True,
        checks=inputs.checks,
        checks_cfg=cfg.checks.to_model(),
    )
    if rank == 0:
        body = {k: str(v) if isinstance(v, Path) else v for k, v in vars(result).items()}
        tmp = folder / f".{RESULT_NAME}.tmp-{os.getpid()}"
        tmp.write_text(json.dumps(body, indent=1))
        os.replace(tmp, folder / RESULT_NAME)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
