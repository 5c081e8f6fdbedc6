"""bench/lp_ft.py's printed output from runs of different seeds, joined into one table.

A run of several subsets is hours of CPU; side-by-side processes of one seed each finish
sooner (`--seeds 0` in one, `--seeds 1` in another). `python bench/lp_ft.py --merge LOG…`
reads what each printed (its header, recipe line and table) and prints the one table the
same command with all the seeds would have, mean row included. The runs must agree on
everything but --seeds (the command, the recipe and the columns); a seed in two logs, a log
with no table or a log of another command stops the merge with a one-line reason.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass
from pathlib import Path


class MergeError(ValueError):
    """Printed runs that are not the same bench at different seeds."""


@dataclass(frozen=True)
class PrintedRun:
    """One lp_ft.py run as printed: its title, date and machine, command (--seeds left
    out), seeds, the recipe line, the table's columns and its per-seed rows (cells as
    printed)."""

    path: Path
    title: str
    date: str
    machine: str
    command: str
    seeds: tuple[str, ...]
    recipe: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def without_seeds(command: str) -> tuple[str, tuple[str, ...]]:
    """`command` without its --seeds option -> (the rest, the seeds it named)."""
    words, rest, seeds = shlex.split(command), [], []
    i = 0
    while i < len(words):
        if words[i] == "--seeds":
            i += 1
            while i < len(words) and not words[i].startswith("--"):
                seeds.append(words[i])
                i += 1
            continue
        rest.append(words[i])
        i += 1
    return shlex.join(rest), tuple(seeds)


def cells(line: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in line.strip().strip("|").split("|"))


def read_run(path: Path) -> PrintedRun:
    """Parse one run's printed output (a log may hold progress lines too) -> PrintedRun."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    dated = next((i for i, ln in enumerate(lines) if ln.startswith("# date: ")), 0)
    title = lines[dated - 1][2:] if dated and lines[dated - 1].startswith("# ") else None
    command, machine = (
        next((ln.split(": ", 1)[1] for ln in lines if ln.startswith(f"# {key}: ")), None)
        for key in ("command", "machine")
    )
    recipe = next((ln for ln in lines if ln.startswith(("# curve recipe", "# headline"))), "")
    if title is None or command is None or machine is None:
        raise MergeError(f"{path}: no bench/lp_ft.py header (# title, date, command, machine)")
    heads = [i for i, ln in enumerate(lines) if ln.startswith("| ") and i + 1 < len(lines)]
    heads = [i for i in heads if lines[i + 1].startswith("|-")]
    if not heads:
        raise MergeError(f"{path}: no table (the run has not finished)")
    start = heads[-1]
    columns = cells(lines[start])
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("| "):
            break
        row = cells(line)
        if row[0] != "mean":
            rows.append(row)
    rest, seeds = without_seeds(command)
    printed = tuple(r[0] for r in rows)
    if seeds and set(seeds) != set(printed):
        raise MergeError(f"{path}: the table's seeds {printed} are not --seeds {seeds}")
    date = lines[dated].split(": ", 1)[1]
    return PrintedRun(path, title, date, machine, rest, printed, recipe, columns, tuple(rows))


def figure(cell: str) -> float:
    """A printed accuracy, without its note: "0.885 (step 150)" -> 0.885."""
    return float(cell.split()[0])


def merge_runs(runs: list[PrintedRun]) -> tuple[PrintedRun, tuple[str, ...]]:
    """Runs of one command at different seeds -> (one run with every row, sorted by seed, the
    first run's date and machine; the mean row: the mean of the printed figures, no
    seconds)."""
    if not runs:
        raise MergeError("no runs to merge")
    first = runs[0]
    seen: dict[str, Path] = {}
    for run in runs:
        for field in ("title", "command", "recipe", "columns"):
            if getattr(run, field) != getattr(first, field):
                raise MergeError(
                    f"{run.path}: its {field} differs from {first.path}'s: "
                    f"{getattr(run, field)!r} vs {getattr(first, field)!r}"
                )
        for seed in run.seeds:
            if seed in seen:
                raise MergeError(f"{run.path}: seed {seed} is also in {seen[seed]}")
            seen[seed] = run.path
    rows = sorted((r for run in runs for r in run.rows), key=lambda r: (len(r[0]), r[0]))
    seeds = tuple(r[0] for r in rows)
    merged = dataclasses.replace(first, seeds=seeds, rows=tuple(rows))
    figures = [[figure(c) for c in r[1:-1]] for r in rows]
    mean = tuple(f"{sum(col) / len(col):.3f}" for col in zip(*figures, strict=True))
    return merged, ("mean", *mean, "")
