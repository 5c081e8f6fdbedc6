"""Benchmark: what Prefect and MLflow cost on top of the pipeline's own work.

The demo pipeline (up to `--until`; `finetune` is the whole pipeline short of promotion,
which is the model registry itself) run as the deployed flow (Prefect tasks, MLflow runs,
the summary hook) side by side with the same stage functions called directly with tracking
off, on the same demo world, each repetition in a fresh store so nothing is skipped. Both
sides are warmed once first (imports, Prefect's local API, MLflow's database), and the
order alternates. Target: flow / direct <= 1.10.

    .venv/bin/python bench/overhead.py [--scale 1] [--until align] [--repeat 3]
    .venv/bin/python bench/overhead.py --until finetune --repeat 1 --warm-until align
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_overrides, direct_views, flow_home, header

from karpa.config import CONFIGS

logger = logging.getLogger("bench.overhead")
REPO = Path(__file__).resolve().parents[1]
CONFIG = str(CONFIGS / "demo.yaml")
# Promotion is left out: it is the model registry itself, with nothing to call "directly".
UNTIL = ("ingest", "validate", "align", "pretrain", "finetune")


def run_direct(config: str, world: Path, until: str, store_root: Path, sets: list[str]) -> float:
    """The stage functions one after another, no Prefect, no MLflow."""
    from karpa.config import load_config
    from karpa.ingest.stage import ingest_table
    from karpa.manifests import raise_if_stopped
    from karpa.store import Store
    from karpa.validation.stage import validate

    began = time.perf_counter()
    cfg = load_config(config, [f"until={until}", "pretrain.progress=false", *sets], str(world))
    store = Store(store_root)
    if not cfg.runs("align"):
        tables = {
            t: ingest_table(t, spec, cfg.data.root, cfg.ingest, store)
            for t, spec in cfg.data.sources.items()
        }
        if cfg.runs("validate"):
            raise_if_stopped(validate(tables, cfg.validate_, store))
        return time.perf_counter() - began
    views = direct_views(cfg, store)
    if cfg.runs("pretrain"):
        from karpa.pretraining.stage import pretrain_foundation

        foundation = pretrain_foundation(views, cfg.pretrain, cfg.seed, store)
        if cfg.runs("finetune"):
            from karpa.finetuning import run_application

            for app in cfg.finetune.applications:
                run_application(app, views, foundation, cfg.finetune, store)
    return time.perf_counter() - began


def run_flow(
    config: str, world: Path, until: str, home: Path, sets: list[str]
) -> tuple[float, str]:
    """The retrain flow (the one the deployments run), called in-process, with this run's
    home (a fresh store)."""
    from flows.retrain import retrain

    os.environ["KARPA_HOME"] = str(home)
    began = time.perf_counter()
    result = retrain(
        config=config, data=str(world), until=until, overrides=["pretrain.progress=false", *sets]
    )
    return time.perf_counter() - began, result["mlflow_run_id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="demo world scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--until", choices=UNTIL, default="align")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--warm-until",
        choices=UNTIL,
        help="stage the warm-up runs stop at (default: --until); the warm-up pays imports "
        "and database setup, which a shorter run pays as well",
    )
    add_overrides(parser, "pretrain.steps=100", "both sides")
    parser.add_argument("--home", help="scratch folder (default: a new temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)

    root = Path(args.home or tempfile.mkdtemp(prefix="karpa-bench-overhead-")).resolve()
    # Prefect's own INFO lines (one per task) would bury the figures.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    base = flow_home(root / "home")
    # One MLflow database for every flow run: a first run on a new SQLite file pays for its
    # migrations, which is setup, not per-run overhead (the warm-up pays it once).
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{base.mlflow_db}"
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)

    from karpa.demo import generate_world
    from karpa.home import Home
    from karpa.tracking import Tracker

    world = root / "world"
    if not (world / "world.json").exists():
        generate_world(world, scale=args.scale, seed=args.seed)

    # Progress goes to stderr as it happens, so a long run that is stopped still says
    # what it measured.
    warm_until = args.warm_until or args.until
    warm = run_direct(CONFIG, world, warm_until, root / "warm-direct" / "store", args.set)
    logger.info("  warm-up direct %.2f s", warm)
    warm, _ = run_flow(CONFIG, world, warm_until, root / "warm-flow", args.set)
    logger.info("  warm-up flow   %.2f s", warm)
    direct, flow, run_id = [], [], ""
    for i in range(args.repeat):
        sides = ["direct", "flow"] if i % 2 == 0 else ["flow", "direct"]
        for side in sides:
            if side == "direct":
                seconds = run_direct(
                    CONFIG, world, args.until, root / f"direct-{i}" / "store", args.set
                )
                direct.append(seconds)
            else:
                seconds, run_id = run_flow(CONFIG, world, args.until, root / f"flow-{i}", args.set)
                flow.append(seconds)
            logger.info("  %d %-6s %.2f s", i, side, seconds)
    direct_s, flow_s = statistics.median(direct), statistics.median(flow)
    parent = Tracker(Home(root / f"flow-{args.repeat - 1}"), "karpa").get_run(run_id)
    stages = {
        k.removeprefix("seconds."): v
        for k, v in parent.data.metrics.items()
        if k.startswith("seconds.")
    }

    command = "bench/overhead.py " + " ".join(sys.argv[1:])
    logger.info(
        "%s", header("demo pipeline through Prefect + MLflow vs direct calls", command.strip())
    )
    logger.info(
        "world:    scale %s, seed %d; until=%s; %d repetitions after one warm-up",
        args.scale,
        args.seed,
        args.until,
        args.repeat,
    )
    logger.info(
        "api:      %s",
        os.environ.get("PREFECT_API_URL") or "Prefect's local API (started once per process)",
    )
    logger.info(
        "direct:   %.2f s median  (%s)  stage functions, tracking off",
        direct_s,
        ", ".join(f"{s:.2f}" for s in direct),
    )
    logger.info(
        "flow:     %.2f s median  (%s)  deployed flow, MLflow SQLite, summary hook",
        flow_s,
        ", ".join(f"{s:.2f}" for s in flow),
    )
    # On a shared machine the minimum is the steadier estimate of each side's own cost.
    logger.info(
        "ratio:    %.3f on medians, %.3f on minima  (target <= 1.10)",
        flow_s / direct_s,
        min(flow) / min(direct),
    )
    logger.info("extra:    %.2f s per run (medians)", flow_s - direct_s)
    logger.info(
        "last flow run, seconds by stage (from its MLflow parent run): %s",
        ", ".join(f"{k} {v:.2f}" for k, v in sorted(stages.items())),
    )
    logger.info(
        "load:     %s (1, 5, 15 min; other work on the machine)",
        ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    )


if __name__ == "__main__":
    main()
