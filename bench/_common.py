"""Shared bits of the benchmarks: where they ran, and when."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
from pathlib import Path

# The public datasets (Banking77, PhraseBank, MovieLens, MNIST), beside the repository; the
# benches that read them take --datasets to point elsewhere.
SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    line = (
        f"{platform.system()} {platform.machine()} ({cpu}), {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    # The GPU too, where there is one: figures from a lent GPU machine must say which card
    # gave them.
    import torch

    if torch.cuda.is_available():
        line += f", GPU {torch.cuda.get_device_name(0)}"
    return line


def header(title: str, command: str) -> str:
    today = dt.date.today().isoformat()
    return f"# {title}\n# date: {today}\n# command: {command}\n# machine: {machine()}"


def flow_home(folder):
    """Activate a scratch karpa home and start its embedded Prefect API as `karpa run` does
    (karpa's start-up wait, not Prefect's 20 s, which a loaded machine can miss), so that a
    bench may call a flow function directly. -> the Home."""
    from flows.embedded import start_embedded_api
    from karpa.home import activate

    home = activate(folder)
    start_embedded_api(home)
    return home


def direct_views(cfg, store):
    """ingest -> validate -> align with the stage functions (no Prefect, no MLflow), as the
    flow's tasks call them, official splits included; returns the AlignManifest."""
    from karpa.align.stage import align
    from karpa.ingest.stage import ingest_table
    from karpa.manifests import raise_if_stopped
    from karpa.validation.stage import validate

    tables = {
        t: ingest_table(t, spec, cfg.data.root, cfg.ingest, store)
        for t, spec in cfg.data.sources.items()
    }
    validated = validate(tables, cfg.validate_, store)
    raise_if_stopped(validated)
    hints = {t: s.split_from_id for t, s in cfg.data.sources.items() if s.split_from_id}
    views = align(validated.accepted, cfg.align, store, split_hints=hints)
    raise_if_stopped(views)
    return views


def movielens_split(datasets: Path, home: Path, bench: str):
    """MovieLens latest-small's leave-last-out split as the recommendation application
    makes it (`karpa/configs/real/movielens.yaml`, views built in `home`) -> (RecData, the
    application's RecommendationConfig). `bench` names the caller in the one-line error."""
    from karpa.applications.data import load_recommendation
    from karpa.config import CONFIGS, load_config
    from karpa.finetuning import app_config
    from karpa.store import Store

    data_root = datasets / "movielens_latest_small"
    if not data_root.is_dir():
        raise SystemExit(f"{bench}: {data_root} is missing (karpa data fetch ...)")
    cfg = load_config(CONFIGS / "real/movielens.yaml", ["until=align"], str(data_root))
    views = direct_views(cfg, Store(home / "store"))
    rc = app_config("recommendation", cfg.finetune, cfg.pretrain.preset)
    return load_recommendation(Path(views.path), None, rc.seed), rc


def add_overrides(parser: argparse.ArgumentParser, example: str, scope: str = "") -> None:
    """The benches' `--set KEY=VALUE` (repeatable): config overrides applied last, as
    `karpa run --set` applies them; `scope` says which of the bench's runs they reach."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"config override{f' for {scope}' if scope else ''}, applied last "
        f"(repeatable), e.g. {example}",
    )


# Loggers whose INFO lines a bench shows beside its own: the progress lines (rate, ETA,
# validation figures) of the fine-tunes and of the learning curve, and the recipe each
# curve point chose on validation; an hour or more of a Banking77 run on a CPU would
# otherwise print nothing.
PROGRESS_LOGGERS = (
    "karpa_models.finetune",
    "karpa.applications.curve",
    "karpa.applications.curve_modes",
)


def shown(record: logging.LogRecord) -> bool:
    """Whether a bench's handler writes `record`: the bench's lines, the progress
    loggers' and any warning."""
    return record.levelno >= logging.WARNING or any(
        record.name == name or record.name.startswith(f"{name}.")
        for name in ("bench", *PROGRESS_LOGGERS)
    )


def show_progress(formatter: logging.Formatter) -> None:
    """Log to stderr through `formatter` the lines `shown` lets through: a bench's own
    (INFO from its `bench.*` loggers), the progress loggers' and only warnings from the
    libraries (Great Expectations sets its loggers to INFO when it is imported, after this
    runs)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    handler.addFilter(shown)
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    for name in ("bench", *PROGRESS_LOGGERS):
        logging.getLogger(name).setLevel(logging.INFO)
