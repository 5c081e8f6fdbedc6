"""From a search to a schedule: one trial of the front written as a model size preset.

The preset is the run's base preset with the trial's architecture, objective weights and
learning rate; its training length stays the base preset's (a trial pretrains at a
reduced budget, a retrain does not). An `origin` section records the study, the trial,
its objectives and the rule that chose it. `pretrain.preset: NAME` then trains it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from karpa.config import RunConfig
from karpa.errors import ConfigError
from karpa.search.front import front_table, pareto_front, plot_front
from karpa.search.space import configs_for
from karpa.search.study import SearchResult, TrialRecord

KNEE_RULE = (
    "the front's trial closest to the ideal point once every objective is scaled to "
    "[0, 1] over the front (0 = the front's best value)"
)
SHIPPED = ("tiny", "small", "base")


def knee(
    records: Sequence[TrialRecord], objectives: Sequence[str], directions: Sequence[str]
) -> TrialRecord:
    """The knee of the front by KNEE_RULE (ties: the lower trial number)."""
    front = pareto_front(records, objectives, directions)
    if not front:
        raise ConfigError("the study has no complete trial yet: run the search first")

    def scaled(r: TrialRecord) -> float:
        total = 0.0
        for o, d in zip(objectives, directions, strict=True):
            values = [f.values[o] for f in front]  # type: ignore[index]
            lo, hi = min(values), max(values)
            if hi == lo:
                continue
            v = r.values[o]  # type: ignore[index]
            share = (v - lo) / (hi - lo) if d == "minimize" else (hi - v) / (hi - lo)
            total += share * share
        return math.sqrt(total)

    return min(front, key=lambda r: (scaled(r), r.number))


def pick(records: Sequence[TrialRecord], number: int) -> TrialRecord:
    """Trial `number`, which must be complete."""
    found = [r for r in records if r.number == number]
    if not found:
        raise ConfigError(f"--pick {number}: the study has no trial {number}")
    if found[0].state != "complete":
        raise ConfigError(f"--pick {number}: trial {number} is {found[0].state}, not complete")
    return found[0]


def preset_tree(
    cfg: RunConfig, record: TrialRecord, study: str, rule: str, storage: str
) -> dict[str, Any]:
    """The preset as YAML-ready data: model, train, origin."""
    model_cfg, train_cfg = configs_for(record.params, *cfg.pretrain.model_configs(cfg.seed))
    model = model_cfg.to_dict()
    model["text"].pop("hf_config", None)
    model["behaviour"].pop("n_items", None)  # set from the catalogue at build time
    train = train_cfg.to_dict()
    for run_specific in ("seed", "device", "precision", "progress"):
        train.pop(run_specific, None)  # the run decides these
    train["crop_ratio"] = list(train["crop_ratio"])
    return {
        "model": model,
        "train": train,
        "origin": {
            "study": study,
            "storage": storage,
            "trial": record.number,
            "chosen_by": rule,
            "objectives": dict(record.values or {}),
            "params": dict(record.params),
            "base_preset": cfg.pretrain.preset,
            "trial_pretrain_steps": cfg.search.pretrain_steps,
            "trial_finetune_steps": cfg.search.finetune_steps,
            "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    }


def save_preset(
    name: str,
    folder: Path,
    cfg: RunConfig,
    record: TrialRecord,
    study: str,
    rule: str,
    storage: str,
) -> Path:
    """Write `<folder>/<name>.yaml`; a shipped preset's name is refused."""
    if name in SHIPPED or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(
            f"--save-preset {name!r}: choose a name of letters, digits, - and _ that is not "
            f"a shipped preset ({', '.join(SHIPPED)})"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    tree = preset_tree(cfg, record, study, rule, _public(storage))
    header = f"# {name}: found by `karpa search` (study {study}, trial {record.number}, {rule}).\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(header + yaml.safe_dump(tree, sort_keys=False))
    tmp.replace(path)
    return path


def _public(storage: str) -> str:
    """The storage URL without a password."""
    if "@" in storage and "://" in storage:
        scheme, rest = storage.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return storage


def write_front(result: SearchResult, folder: Path) -> dict[str, Any]:
    """Write front.png and front.md into `folder`; -> the manifest the task returns."""
    objectives, directions = result.objectives, result.directions
    front = pareto_front(result.records, objectives, directions)
    chosen = knee(result.records, objectives, directions).number if front else None
    markdown = front_table(result.records, objectives, directions, chosen)
    folder.mkdir(parents=True, exist_ok=True)
    table = folder / "front.md"
    table.write_text(markdown)
    plot = plot_front(result.records, objectives, directions, folder / "front.png", chosen)
    counts = {
        state: sum(r.state == state for r in result.records)
        for state in ("complete", "pruned", "failed")
    }
    counts["new"] = len(result.new)
    return {
        "study": result.study,
        "objectives": objectives,
        "counts": counts,
        "stopped_by": result.stopped_by,
        "front": [r.number for r in front],
        "knee": chosen,
        "plot": str(plot),
        "table": str(table),
        "markdown": markdown,
    }
