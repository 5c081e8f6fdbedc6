"""Command-line pretraining, the entry point `torchrun` starts once per process:

    torchrun --standalone --nproc_per_node 2 -m karpa_models.launch \\
        --corpus CORPUS_DIR --preset tiny --out OUT_DIR [--steps N] [--no-resume]

The corpus is a folder written by PretrainCorpus.save. Metrics go to OUT_DIR/metrics.jsonl
and the result to OUT_DIR/result.json (rank 0 only), for the pipeline to pick up.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
from pathlib import Path

from karpa_models.config import load_preset
from karpa_models.corpus import PretrainCorpus
from karpa_models.pretraining import pretrain

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m karpa_models.launch", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--corpus", required=True, type=Path, help="folder written by PretrainCorpus.save"
    )
    parser.add_argument(
        "--preset", default="tiny", help="preset name under karpa_models/presets or a YAML path"
    )
    parser.add_argument("--out", required=True, type=Path, help="checkpoint and metrics folder")
    parser.add_argument("--steps", type=int, default=None, help="override train.steps")
    parser.add_argument(
        "--no-resume", action="store_true", help="start over even if a checkpoint exists"
    )
    args = parser.parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format=f"%(asctime)s rank{rank} %(name)s %(levelname)s %(message)s",
    )
    model_cfg, train_cfg = load_preset(args.preset)
    if args.steps is not None:
        train_cfg = dataclasses.replace(train_cfg, steps=args.steps)
    corpus = PretrainCorpus.load(args.corpus)
    args.out.mkdir(parents=True, exist_ok=True)
    metrics_path = args.out / "metrics.jsonl"

    def on_metrics(metrics: dict[str, float], step: int) -> None:
        with open(metrics_path, "a") as f:
            f.write(json.dumps({"step": step, **metrics}) + "\n")

    result = pretrain(corpus, model_cfg, train_cfg, args.out, on_metrics, resume=not args.no_resume)
    if rank == 0:
        summary = {
            k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(result).items()
        }
        (args.out / "result.json").write_text(json.dumps(summary, indent=2))
        logger.info("pretraining done: %s", args.out / "result.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
