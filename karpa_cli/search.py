"""`karpa search`: run (or resume) the architecture search, print its Pareto front, and
optionally write one of its trials as a model preset."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from karpa.errors import ConfigError

if TYPE_CHECKING:
    from karpa.config import RunConfig
    from karpa.search.study import SearchResult


def _listed(text: str | None) -> list[str] | None:
    """`a,b` -> ["a", "b"]; None stays None (the config's value)."""
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def _search(args: argparse.Namespace) -> int:
    from karpa.home import activate

    home = activate(args.home)
    if args.pick is not None and not args.save_preset:
        raise ConfigError(
            "--pick TRIAL chooses the trial that --save-preset NAME writes: give both"
        )
    from karpa.config import load_config
    from karpa.search.space import check_space
    from karpa.search.study import default_storage, load_result

    typed = {
        "search.trials": args.trials,
        "search.budget_minutes": args.budget_minutes,
        "search.objectives": _listed(args.objectives),
        "search.applications": _listed(args.apps),
    }
    typed = {key: value for key, value in typed.items() if value is not None}
    # Everything is checked before anything starts, each problem one sentence that names
    # its key (search.objectives, search.budget_minutes, ...).
    cfg = load_config(args.config, args.set, args.data, values=typed)
    check_space(cfg)
    if args.pick is None:
        from karpa.search.budget import check_budget

        check_budget(cfg)
        summary = _run_flow(home, args, typed)["search"]
        print()
        print(Path(summary["table"]).read_text())
        print(f"Plot:  {summary['plot']}")
        if summary["knee"] is not None:
            print(f"Knee:  trial {summary['knee']}")
        print(
            f"Study: {summary['study']} ({summary['counts']['new']} new trials; run the same "
            "command again to resume or extend it)"
        )
    if args.save_preset:
        _save(args, cfg, load_result(cfg, cfg.search.storage or default_storage(home.root)))
    return 0


def _run_flow(home: Any, args: argparse.Namespace, typed: dict[str, Any]) -> dict:
    """The search flow on the embedded Prefect API, one run per home at a time."""
    from flows.search import SearchParams, architecture_search
    from karpa.config import config_file
    from karpa_cli.supervised import supervised_run

    params = SearchParams(
        # A shipped preset by name (`demo`) becomes its file: the form takes YAML paths.
        config=args.config
        if args.config.endswith((".yaml", ".yml"))
        else str(config_file(args.config)),
        data=args.data,
        trials=typed.get("search.trials"),
        budget_minutes=typed.get("search.budget_minutes"),
        objectives=typed.get("search.objectives"),
        applications=typed.get("search.applications"),
        overrides=args.set,
    )
    with supervised_run(home):
        result = architecture_search(**params.model_dump())
    print(f"MLflow run: {result['mlflow_run_id']}")
    return result


def _save(args: argparse.Namespace, cfg: RunConfig, result: SearchResult) -> None:
    from karpa.search.preset import KNEE_RULE, knee, pick, save_preset
    from karpa_models.config import PRESET_DIR

    if args.pick is not None:
        record, rule = pick(result.records, args.pick), f"picked by hand (--pick {args.pick})"
    else:
        record, rule = knee(result.records, result.objectives, result.directions), KNEE_RULE
    folder = Path(args.preset_dir) if args.preset_dir else PRESET_DIR
    path = save_preset(args.save_preset, folder, cfg, record, result.study, rule, result.storage)
    values = ", ".join(f"{k} {v:.4g}" for k, v in (record.values or {}).items())
    use = args.save_preset if folder == PRESET_DIR else str(path)
    print(f"Preset {args.save_preset!r} written to {path}: trial {record.number} ({values}).")
    print(f"Train with it: karpa run --set pretrain.preset={use}")


def add_commands(sub: argparse._SubParsersAction) -> None:
    search = sub.add_parser(
        "search",
        help="search the foundation's architecture with Optuna (quality vs latency vs size)",
        description="Run (or resume) an Optuna study over the foundation's architecture, "
        "objective weights and learning rates: each trial pretrains at a reduced budget, "
        "fine-tunes the chosen applications and is scored on validation. Prints the Pareto "
        "front; --save-preset writes its knee (or --pick TRIAL) as a model preset.",
    )
    search.add_argument("--config", default="configs/demo.yaml", help="run preset (YAML)")
    search.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value"
    )
    search.add_argument("--data", help="folder the sources are read from (overrides data.root)")
    search.add_argument("--trials", type=int, help="finished trials the study should hold")
    search.add_argument(
        "--budget-minutes", type=float, help="no trial starts after this many minutes"
    )
    search.add_argument(
        "--objectives",
        help="comma-separated: quality, intent, sentiment, recommendation, latency_p50, "
        "latency_p95, params (default: quality,latency_p95)",
    )
    search.add_argument(
        "--apps", help="comma-separated applications each trial fine-tunes (default: intent)"
    )
    search.add_argument("--save-preset", metavar="NAME", help="write a trial as a model preset")
    search.add_argument(
        "--pick",
        type=int,
        metavar="TRIAL",
        help="with --save-preset: this trial, from the stored study, without searching "
        "(default: the knee of the front)",
    )
    search.add_argument(
        "--preset-dir",
        help="folder for the preset (default: karpa_models/presets, where presets are "
        "looked up by name)",
    )
    search.set_defaults(func=_search)
