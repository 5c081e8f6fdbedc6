"""Merge bench/quality.py result files that ran different splits or seeds of one protocol.

On a small CPU one PhraseBank split takes 10-20 minutes, so its five splits may run as
`--seeds 0 1 2` one day and `--seeds 3 4` another; `quality.py --merge` joins the result
files into the table one five-split run would have printed. Only runs that differ in
their splits may join: the same task, model preset, pretraining steps and fine-tune
recipe, and no split twice.

MovieLens has one split and runs pretraining seeds x fine-tune seeds (one fine-tune
seed takes 15-20 minutes here), so its runs join the same way: the same preset,
pretraining steps and recommender recipe (seed aside), no (pretraining seed, fine-tune
seed) twice, and one foundation per pretraining seed across the files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from karpa_models.finetune.config import RecommenderConfig

SPLIT_TASKS = ("phrasebank", "phrasebank_allagree")
SEED_TASKS = ("movielens",)
_REC_LABEL = re.compile(r"^movielens pretrain (\d+) finetune (\d+)$")


class MergeError(ValueError):
    """Result files that do not describe splits of one protocol."""


@dataclass
class MergedTask:
    """One split task's per-split figures and runs, in seed order, from several files."""

    task: str
    seeds: list[int]
    figures: dict[str, list[dict[str, Any]]]  # table row -> one entry per split
    runs: list[dict[str, Any]]  # as the files hold them: own-init and/or <start>-init per split
    preset: str


def recipe(run: dict[str, Any]) -> dict[str, Any]:
    """What merged runs must share: pretraining steps and the fine-tune recipe (whose seed
    is the split's, so it is left out)."""
    fine_tune = run["report"]["protocol"]["classifier"]
    return {"pretrain_steps": run["pretrain_steps"]} | {
        k: v for k, v in fine_tune.items() if k != "seed"
    }


def _check_recipes(
    path: Path, runs: list[dict[str, Any]], reference: dict[str, tuple[Path, dict[str, Any]]]
) -> None:
    """Each run against the first seen of its start (`own-init`, `MiniLM-init`,
    `MPNet-init`: the pipelines of a split have different recipes), remembered in
    `reference`."""
    for run in runs:
        start, got = run["label"].rsplit(" ", 1)[-1], recipe(run)
        first, want = reference.setdefault(start, (path, got))
        differ = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
        if differ:
            raise MergeError(
                f"{path}: {run['label']} differs from {first}'s {start} runs in {', '.join(differ)}"
            )


def merge_task(task: str, parts: list[tuple[Path, dict[str, Any]]]) -> MergedTask:
    """Join `task` from each (file, results) into one set of splits, or raise MergeError
    naming the file and what differs."""
    if task not in SPLIT_TASKS:
        raise MergeError(
            f"{task}: only split tasks merge ({', '.join(SPLIT_TASKS)}); its protocol has one split"
        )
    if not parts:
        raise MergeError(f"{task}: no result files to merge")
    splits: dict[int, tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]] = {}
    seen: dict[int, Path] = {}
    reference: dict[str, tuple[Path, dict[str, Any]]] = {}
    preset: tuple[Path, str] | None = None
    for path, results in parts:
        if task not in results.get("tasks", {}):
            raise MergeError(f"{path}: has no results for task {task!r}")
        if results.get("quick"):
            raise MergeError(f"{path}: a --quick run (a sample and a few steps) does not merge")
        if preset is not None and results["preset"] != preset[1]:
            raise MergeError(
                f"{path}: model preset {results['preset']!r}, {preset[0]} has {preset[1]!r}"
            )
        preset = preset or (path, results["preset"])
        found = results["tasks"][task]
        seeds = results["seeds"]
        runs = found["runs"]
        # Two pipelines per split (own-init, <start>-init), or one (--inits).
        per_split = len(runs) // max(len(seeds), 1)
        if per_split not in (1, 2) or per_split * len(seeds) != len(runs):
            raise MergeError(
                f"{path}: {task} has {len(runs)} runs for {len(seeds)} split(s); "
                "expected one or two per split (own-init and/or <start>-init)"
            )
        _check_recipes(path, runs, reference)
        for i, seed in enumerate(seeds):
            if seed in seen:
                raise MergeError(f"{path}: split seed {seed} is also in {seen[seed]}")
            seen[seed] = path
            rows = {row: values[i] for row, values in found["figures"].items()}
            if splits and set(rows) != set(next(iter(splits.values()))[0]):
                raise MergeError(f"{path}: {task}'s table rows differ from the other files'")
            splits[seed] = (rows, runs[per_split * i : per_split * (i + 1)])
    order = sorted(splits)
    row_names = list(splits[order[0]][0])
    figures = {row: [splits[seed][0][row] for seed in order] for row in row_names}
    runs = [run for seed in order for run in splits[seed][1]]
    assert preset is not None  # set by the first part
    return MergedTask(task, order, figures, runs, preset[1])


@dataclass
class MergedSeeds:
    """MovieLens runs of several files, in (pretraining seed, fine-tune seed) order."""

    runs: list[dict[str, Any]]  # as the files hold them
    seeds: list[tuple[int, int]]
    preset: str
    pretrain_steps: int


def rec_recipe(run: dict[str, Any]) -> dict[str, Any]:
    """What merged MovieLens runs must share: the recommender recipe, its defaults filled
    in (a file written before a setting existed ran with its default), seed and device
    left out."""
    recipe = RecommenderConfig().to_dict() | run["report"]["protocol"]["recommender"]
    return {k: v for k, v in recipe.items() if k not in ("seed", "device")}


def _seeds(path: Path, run: dict[str, Any]) -> tuple[int, int]:
    found = _REC_LABEL.match(run["label"])
    if found is None:
        raise MergeError(f"{path}: {run['label']!r} is not a MovieLens run's label")
    return int(found.group(1)), int(found.group(2))


def merge_seeds(task: str, parts: list[tuple[Path, dict[str, Any]]]) -> MergedSeeds:
    """Join `task`'s runs from each (file, results), or raise MergeError naming the file
    and what differs."""
    if task not in SEED_TASKS:
        raise MergeError(f"{task}: only {', '.join(SEED_TASKS)} merges by seeds")
    if not parts:
        raise MergeError(f"{task}: no result files to merge")
    found: dict[tuple[int, int], tuple[Path, dict[str, Any]]] = {}
    foundations: dict[int, tuple[Path, str]] = {}
    first: tuple[Path, dict[str, Any]] | None = None
    for path, results in parts:
        if task not in results.get("tasks", {}):
            raise MergeError(f"{path}: has no results for task {task!r}")
        if results.get("quick"):
            raise MergeError(f"{path}: a --quick run (a sample and a few steps) does not merge")
        for run in results["tasks"][task]["runs"]:
            seeds = _seeds(path, run)
            if seeds in found:
                raise MergeError(
                    f"{path}: pretraining seed {seeds[0]}, fine-tune seed {seeds[1]} is "
                    f"also in {found[seeds][0]}"
                )
            shared = {
                "model preset": results["preset"],
                "pretrain_steps": run["pretrain_steps"],
                **rec_recipe(run),
            }
            if first is None:
                first = (path, shared)
            differ = sorted(k for k in shared if shared[k] != first[1].get(k))
            if differ:
                raise MergeError(
                    f"{path}: {run['label']} differs from {first[0]}'s runs in "
                    + ", ".join(f"{k} {shared[k]!r}" for k in differ)
                )
            # The store's folder name is the foundation's fingerprint (views + config).
            foundation = Path(run["report"]["protocol"]["foundation"]).parent.name
            seen = foundations.setdefault(seeds[0], (path, foundation))
            if seen[1] != foundation:
                raise MergeError(
                    f"{path}: pretraining seed {seeds[0]}'s foundation {foundation} is not "
                    f"{seen[0]}'s {seen[1]}"
                )
            found[seeds] = (path, run)
    if first is None:
        raise MergeError(f"{task}: the result files hold no runs")
    if len({f for _, f in foundations.values()}) != len(foundations):
        raise MergeError(f"{task}: two pretraining seeds share one foundation")
    order = sorted(found)
    return MergedSeeds(
        [found[s][1] for s in order],
        order,
        first[1]["model preset"],
        first[1]["pretrain_steps"],
    )
