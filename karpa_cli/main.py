"""`karpa`: the command line. Heavy libraries are imported inside commands, so `--help`
stays fast and the home is activated before Prefect or MLflow loads."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from karpa.errors import ConfigError, KarpaError
from karpa.home import SERVER_TIMEOUT_VAR, parse_seconds, server_timeout

if TYPE_CHECKING:
    from karpa.config import RunConfig

log = logging.getLogger("karpa")


def _run(args: argparse.Namespace) -> int:
    from karpa.home import activate

    home = activate(args.home)
    from flows.params import RetrainParams
    from flows.retrain import retrain
    from karpa.config import load_config
    from karpa_cli.supervised import supervised_run

    # A bad config, override or data folder is one sentence before any flow run starts
    # (in a flow run it would be the ingest task's failure, under two tracebacks). The
    # config is resolved first: the parameters would refuse a bad override without
    # naming the file.
    args.set = [*args.set, *_engine_overrides(args)]
    _check_data_root(load_config(args.config, args.set, args.data), args)
    params = RetrainParams(config=args.config, overrides=args.set, data=args.data)
    with supervised_run(home):  # so is a Prefect API that does not come up
        result = retrain(**params.model_dump())
    run_id = result["mlflow_run_id"]
    print()
    print(f"MLflow run: {run_id}")
    for t in result["tables"]:
        state = "unchanged, skipped" if t["skipped"] else "ingested"
        print(f"  {t['table']:<9} {t['rows']:>10,} rows  {state}")
    if (result.get("pretrain") or {}).get("foundation"):
        print()
        print(f"Foundation: {result['pretrain']['foundation']}")
    if "finetune" in result:
        from karpa.summary import headline_table

        print()
        print(
            headline_table(
                [a["report"] for a in result["finetune"].values()], result.get("promote")
            )
        )
    print()
    print(f"Home: {home.root}")
    print("See both UIs (Prefect and MLflow, on 127.0.0.1): karpa ui   (or: make ui)")
    return 0


def _engine_overrides(args: argparse.Namespace) -> list[str]:
    """`--engine` and `--engine-address` as the config overrides they stand for."""
    out = []
    if args.engine is not None:
        out.append(f"engine={args.engine}")
    if args.engine_address is not None:
        out.append(f"engine_address={json.dumps(args.engine_address)}")
    return out


def _check_data_root(cfg: RunConfig, args: argparse.Namespace) -> None:
    """A local data.root that is not a folder, where a source path is relative to it."""
    from karpa.ingest.sources import resolve_url

    root = cfg.data.root
    relative = sorted(t for t, s in cfg.data.sources.items() if resolve_url(root, s.path) != s.path)
    if not relative or "://" in root or Path(root).is_dir():
        return
    named = (
        "--data"
        if args.data is not None
        else f"data.root of {args.config}" + (" with --set" if args.set else "")
    )
    paths = ", ".join(f"data.sources.{table}.path" for table in relative)
    verb = "is" if len(relative) == 1 else "are"
    raise ConfigError(f"{named}: {root!r} is not a folder ({paths} {verb} relative to it)")


def _demo(args: argparse.Namespace) -> int:
    from karpa.demo import generate_world

    out = Path(args.out)
    manifest_path = out / "world.json"
    if manifest_path.exists() and not args.force:
        existing = json.loads(manifest_path.read_text())
        if existing.get("seed") == args.seed and existing.get("scale") == args.scale:
            print(f"demo world (scale {args.scale}, seed {args.seed}) already in {out}")
            return 0
    manifest = generate_world(out, scale=args.scale, seed=args.seed)
    counts = ", ".join(f"{k} {v:,}" for k, v in manifest["counts"].items())
    print(f"demo world (scale {args.scale}, seed {args.seed}) written to {out}: {counts}")
    return 0


def _ui(args: argparse.Namespace) -> int:
    from karpa.home import activate

    home = activate(args.home)
    from karpa.servers import (
        prepare_prefect_database,
        start_mlflow_server,
        start_prefect_server,
        stop,
        wait_http,
    )

    prepare_prefect_database(home)
    prefect = start_prefect_server(home, args.prefect_port)
    mlflow = start_mlflow_server(home, args.mlflow_port)
    try:
        wait_http(
            f"http://127.0.0.1:{args.prefect_port}/api/health",
            prefect,
            name=f"the Prefect UI server (log {home.root / 'prefect-server.log'})",
        )
        wait_http(
            f"http://127.0.0.1:{args.mlflow_port}/health",
            mlflow,
            name=f"the MLflow UI server (log {home.root / 'mlflow-server.log'})",
        )
        print(f"Prefect UI: http://127.0.0.1:{args.prefect_port}  (pid {prefect.pid})")
        print(f"MLflow UI:  http://127.0.0.1:{args.mlflow_port}  (pid {mlflow.pid})")
        print(f"Both read the home {home.root}. Press Ctrl-C to stop both.")
        prefect.wait()
    except KeyboardInterrupt:
        print("\nstopping...")
    finally:
        stop(prefect)
        stop(mlflow)
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from karpa.home import activate

    home = activate(args.home)
    from karpa.artifact_store import configured_destination
    from karpa.database import configured_database
    from karpa.deploy import deploy, describe, project_root, stop

    if args.stop:
        stopped = stop(home)
        for s in stopped:
            print(f"stopped {s.name} (pid {s.pid})")
        if not stopped:
            print(f"nothing that karpa deploy started is running (home {home.root})")
        return 0
    state = deploy(
        home,
        project_root(args.project),
        args.prefect_port,
        args.mlflow_port,
        args.worker_query_seconds,
        database=configured_database(args.database_url),
        artifacts=configured_destination(args.artifacts_destination, home),
    )
    print(describe(state))
    return 0


def _data_fetch(args: argparse.Namespace) -> int:
    from karpa.datasets.fetch import fetch
    from karpa.datasets.registry import get
    from karpa.home import resolve_home

    dataset = get(args.name)
    dest = Path(args.dest) if args.dest else resolve_home(args.home).root / "datasets" / args.name
    folder = fetch(dataset, dest=dest, mirror=args.mirror)
    print(f"{dataset.name}: {len(dataset.files)} file(s) verified in {folder}")
    print(f"licence: {dataset.license}; cite: {dataset.citation}")
    for preset in dataset.presets:
        print(f"  karpa run --config {preset} --data {folder}")
    return 0


def _data_list(args: argparse.Namespace) -> int:
    from karpa.datasets.registry import DATASETS

    for dataset in DATASETS:
        print(f"{dataset.name:<24} {dataset.title}  [{dataset.license}]")
    return 0


def _data_tables(args: argparse.Namespace) -> int:
    from data_contracts import ContractError, load_contracts
    from data_contracts.tables_doc import tables_markdown

    try:
        contracts = load_contracts(Path(args.contracts) if args.contracts else None)
    except ContractError as exc:
        raise KarpaError(str(exc)) from None
    print(tables_markdown(contracts.values()), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="karpa", description=__doc__)
    parser.add_argument("--home", help="home folder (default: $KARPA_HOME or ./.karpa)")
    parser.add_argument(
        "--server-timeout",
        type=float,
        metavar="SECONDS",
        help="how long to wait for a server karpa starts (the embedded Prefect API, the "
        "UI and deploy servers; default: $KARPA_SERVER_TIMEOUT or 180)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the retrain pipeline with the embedded defaults")
    run.add_argument("--config", default="configs/demo.yaml", help="run preset (YAML)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. ingest.batch_rows=50000",
    )
    run.add_argument("--data", help="folder the sources are read from (overrides data.root)")
    run.add_argument(
        "--engine",
        choices=("local", "dask"),
        help="where the data stages run (overrides engine): one process, or a Dask cluster",
    )
    run.add_argument(
        "--engine-address",
        metavar="tcp://HOST:PORT",
        help="engine dask: an existing Dask scheduler (default: a local cluster for the run)",
    )
    run.set_defaults(func=_run)

    demo = sub.add_parser("demo", help="generate the built-in demo world")
    demo.add_argument("--scale", type=float, default=1.0)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default=".karpa/demo-data")
    demo.add_argument("--force", action="store_true", help="regenerate even if present")
    demo.set_defaults(func=_demo)

    ui = sub.add_parser("ui", help="start the Prefect and MLflow UIs against the home")
    ui.add_argument("--prefect-port", type=int, default=4200)
    ui.add_argument("--mlflow-port", type=int, default=5000)
    ui.set_defaults(func=_ui)

    dep = sub.add_parser(
        "deploy",
        help="deploy prefect.yaml: Prefect and MLflow servers, pool, worker",
        description="Use the Prefect server at PREFECT_API_URL (or start one against the "
        "home), start an MLflow server unless MLFLOW_TRACKING_URI names one, create the "
        "work pool, deploy prefect.yaml and start a worker. Safe to run again.",
    )
    dep.add_argument(
        "--stop", action="store_true", help="stop the worker and servers that karpa deploy started"
    )
    dep.add_argument("--project", help="folder of prefect.yaml (default: the checkout)")
    dep.add_argument("--prefect-port", type=int, default=4200)
    dep.add_argument("--mlflow-port", type=int, default=5000)
    dep.add_argument(
        "--worker-query-seconds",
        type=float,
        default=None,
        help="how often the worker polls for runs (Prefect's default: 10)",
    )
    dep.add_argument(
        "--database-url",
        help="a PostgreSQL server for both servers, e.g. postgresql://USER:PASSWORD@HOST:5432/"
        "karpa (databases karpa_prefect and karpa_mlflow, created when missing; default: "
        "$KARPA_DATABASE_URL, else SQLite files in the home)",
    )
    dep.add_argument(
        "--artifacts-destination",
        help="where the MLflow server keeps the artifacts it serves to clients: a folder or "
        "s3://BUCKET/PREFIX (endpoint and credentials from MLFLOW_S3_ENDPOINT_URL, "
        "AWS_ACCESS_KEY_ID...; default: $KARPA_ARTIFACTS_DESTINATION, else <home>/mlartifacts)",
    )
    dep.set_defaults(func=_deploy)

    data = sub.add_parser("data", help="public datasets: list them, fetch one")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser(
        "fetch", help="download a public dataset into <home>/datasets/NAME, checksums verified"
    )
    fetch.add_argument("name", help="dataset name (see `karpa data list`)")
    fetch.add_argument("--dest", help="folder to put it in (default: <home>/datasets/NAME)")
    fetch.add_argument(
        "--mirror",
        help="base URL serving <NAME>/<file> instead of the "
        "canonical addresses (default: $KARPA_DATASETS_MIRROR)",
    )
    fetch.set_defaults(func=_data_fetch)
    listing = data_sub.add_parser("list", help="the datasets `karpa data fetch` knows")
    listing.set_defaults(func=_data_list)
    tables = data_sub.add_parser(
        "tables",
        help="the canonical tables (columns, types, required, rules) as markdown, "
        "from the data contracts",
    )
    tables.add_argument("--contracts", help="folder of contracts (default: the packaged ones)")
    tables.set_defaults(func=_data_tables)
    from karpa_cli.models import add_commands
    from karpa_cli.search import add_commands as add_search

    add_commands(sub)
    add_search(sub)
    return parser


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C: `finally` blocks stop the servers a command started,
    # the flow marks its runs failed, and Prefect's exit hook stops its embedded server.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.func is not _run:
        # Inside a flow run, Prefect's own console handler shows our loggers' lines (see
        # PREFECT_LOGGING_EXTRA_LOGGERS); elsewhere a plain handler does.
        logging.basicConfig(
            level=logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            datefmt="%H:%M:%S",
        )
    for name in ("karpa", "karpa_models", "data_contracts"):
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        if args.server_timeout is not None:
            seconds = parse_seconds("--server-timeout", str(args.server_timeout))
            os.environ[SERVER_TIMEOUT_VAR] = str(seconds)
        server_timeout()  # a bad value is one sentence now, not when a server starts
        return args.func(args)
    except KarpaError as exc:
        print(f"karpa: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
