"""The layering rules of DESIGN.md, checked on the source.

Imports point down only: CLI (`karpa_cli`) -> `flows` -> `tasks` -> `karpa` -> `karpa_models`
and `data_contracts`, which import nothing of the project's. Only `tasks` and `flows`
import Prefect (and `karpa/deploy.py`, which drives the Prefect CLI by design); only
`karpa/tracking/` imports MLflow. No two modules import each other, directly or around a
loop. Every import counts: at the top, inside a function, or under `TYPE_CHECKING`.

The checker is tested on small synthetic trees too, so that each rule is known to fail
on a planted violation.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Rules:
    """`layers`: each project package's rank; a package may import its own modules and
    those of packages ranked strictly lower. `only`: a third-party package, and the
    module prefixes (dotted) allowed to import it."""

    layers: dict[str, int]
    only: dict[str, tuple[str, ...]] = field(default_factory=dict)


RULES = Rules(
    layers={
        "karpa_cli": 4,
        "flows": 3,
        "tasks": 2,
        "karpa": 1,
        "karpa_models": 0,
        "data_contracts": 0,
    },
    only={"prefect": ("tasks", "flows", "karpa.deploy"), "mlflow": ("karpa.tracking",)},
)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the packages under `root`."""
    return {module_name(root, p): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))}


def imports(root: Path, path: Path, known: set[str]) -> set[str]:
    """Every module a file imports, absolute and dotted. `from a import b` names `a.b`
    when that is a module of the project, else `a`."""
    name = module_name(root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                child = f"{target}.{alias.name}"
                found.add(child if child in known else target)
    return found


def graph(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    """Module -> the modules it imports (of the project and beyond)."""
    files = modules(root, packages)
    return {name: imports(root, path, set(files)) for name, path in files.items()}


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(root: Path, rules: Rules) -> list[str]:
    """One line per import that breaks a rule."""
    out = []
    for module, targets in graph(root, rules.layers).items():
        own = module.split(".")[0]
        for target in sorted(targets):
            top = target.split(".")[0]
            if top in rules.layers and top != own and rules.layers[top] >= rules.layers[own]:
                out.append(f"{module} imports {target}: {own} may not import {top}")
            allowed = rules.only.get(top)
            if allowed is not None and not any(_within(module, p) for p in allowed):
                out.append(f"{module} imports {target}: only {', '.join(allowed)} may")
    return out


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle among the modules of `edges` (one loop per strongly connected
    group), found by depth-first search."""
    inside = {m: {t for t in ts if t in edges and t != m} for m, ts in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(inside[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(inside):
        if node not in index:
            visit(node)
    return groups


# Entry points resolve the home (from --home or KARPA_HOME) once and pass it down; nothing
# below them reads it again. karpa/home.py defines it; karpa/deploy.py hands it to a worker.
HOME_READERS = ("karpa_cli", "flows", "karpa.home", "karpa.deploy")


def home_reads(root: Path, packages: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """Modules outside `allowed` that resolve the home themselves: a call of
    `resolve_home` or `activate`, or the name KARPA_HOME."""
    out = []
    for name, path in modules(root, packages).items():
        if any(_within(name, prefix) for prefix in allowed):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            called = node.func if isinstance(node, ast.Call) else None
            called_name = getattr(called, "id", None) or getattr(called, "attr", None)
            if called_name in ("resolve_home", "activate") or (
                isinstance(node, ast.Constant) and node.value == "KARPA_HOME"
            ):
                out.append(f"{name}:{node.lineno} resolves the home itself")
    return sorted(out)


# -- the project ---------------------------------------------------------------------------


def test_every_layer_exists():
    assert all((ROOT / pkg / "__init__.py").is_file() for pkg in RULES.layers)


def test_imports_point_down_and_heavy_libraries_stay_in_their_layer():
    assert violations(ROOT, RULES) == []


def test_no_import_cycles():
    assert cycles(graph(ROOT, RULES.layers)) == []


def test_the_home_is_resolved_once_by_the_entry_points_and_passed_down():
    assert home_reads(ROOT, RULES.layers, HOME_READERS) == []


# -- the checker, on planted violations ------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for pkg in RULES.layers:
        (tmp_path / pkg).mkdir(exist_ok=True)
        (tmp_path / pkg / "__init__.py").touch()
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent != tmp_path and not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").touch()
        path.write_text(text)
    return tmp_path


def test_a_clean_tree_passes(tmp_path):
    root = _tree(
        tmp_path,
        {
            "karpa_cli/main.py": "from flows.retrain import retrain\nimport karpa.home\n",
            "flows/retrain.py": "from prefect import flow\nfrom tasks.ingest import ingest\n",
            "tasks/ingest.py": "from prefect import task\nfrom karpa.store import Store\n",
            "karpa/store.py": "import karpa_models.config\nfrom data_contracts import columns\n",
            "karpa/deploy.py": "import prefect\n",
            "karpa/tracking/runs.py": "import mlflow\n",
            "karpa_models/config.py": "import torch\n",
            "data_contracts/columns.py": "import yaml\n",
        },
    )
    assert violations(root, RULES) == []
    assert cycles(graph(root, RULES.layers)) == []


@pytest.mark.parametrize(
    ("rel", "text", "message"),
    [
        # upward imports, at the top, in a function, under TYPE_CHECKING, relative
        ("karpa/cli.py", "import flows.retrain\n", "karpa may not import flows"),
        (
            "tasks/score.py",
            "def f():\n    from karpa_cli import models\n",
            "tasks may not import karpa_cli",
        ),
        (
            "flows/x.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import karpa_cli.main\n",
            "flows may not import karpa_cli",
        ),
        (
            "karpa_models/finetune/next_item.py",
            "from karpa.evaluation.ranking import f\n",
            "karpa_models may not import karpa",
        ),
        (
            "data_contracts/loader.py",
            "from karpa.schema import TABLES\n",
            "data_contracts may not import karpa",
        ),
        # the two bottom packages import nothing of each other's either
        (
            "data_contracts/x.py",
            "import karpa_models\n",
            "data_contracts may not import karpa_models",
        ),
        (
            "karpa_models/x.py",
            "from data_contracts import columns\n",
            "karpa_models may not import data_contracts",
        ),
        # third-party libraries in their own layers only
        ("karpa/store.py", "from prefect import task\n", "only tasks, flows, karpa.deploy"),
        ("karpa_cli/main.py", "import prefect.client\n", "only tasks, flows, karpa.deploy"),
        ("karpa/evaluation.py", "def f():\n    import mlflow\n", "only karpa.tracking"),
        ("tasks/promote.py", "from mlflow import MlflowClient\n", "only karpa.tracking"),
    ],
)
def test_each_rule_fails_on_a_planted_violation(tmp_path, rel, text, message):
    root = _tree(tmp_path, {rel: text})
    found = violations(root, RULES)
    assert len(found) == 1 and message in found[0], found


def test_relative_imports_are_resolved(tmp_path):
    root = _tree(
        tmp_path,
        {"karpa_models/finetune/a.py": "from ...karpa import schema\n", "karpa/schema.py": ""},
    )
    assert any("karpa_models may not import karpa" in v for v in violations(root, RULES))
    root = _tree(
        tmp_path,
        {"karpa_models/finetune/a.py": "from .b import x\n", "karpa_models/finetune/b.py": ""},
    )
    assert graph(root, ["karpa_models"])["karpa_models.finetune.a"] == {"karpa_models.finetune.b"}


def test_a_cycle_is_found_even_when_hidden(tmp_path):
    root = _tree(
        tmp_path,
        {
            "karpa/applications/recommendation.py": "from karpa.applications import rec_report\n",
            "karpa/applications/rec_report.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from karpa.applications.recommendation import Config\n",
            "karpa/a.py": "import karpa.b\n",
            "karpa/b.py": "def f():\n    import karpa.c\n",
            "karpa/c.py": "from karpa import a\n",
            "karpa/d.py": "import karpa.a\n",  # on the way to a loop, not in it
        },
    )
    assert cycles(graph(root, RULES.layers)) == [
        ["karpa.a", "karpa.b", "karpa.c"],
        ["karpa.applications.rec_report", "karpa.applications.recommendation"],
    ]


def test_a_task_or_stage_that_reads_the_home_itself_is_found(tmp_path):
    root = _tree(
        tmp_path,
        {
            "tasks/ingest.py": "from karpa.home import resolve_home\n"
            "def ingest():\n    return resolve_home().store\n",
            "karpa/fetch.py": "import os\nROOT = os.environ['KARPA_HOME']\n",
            "flows/retrain.py": "from karpa.home import resolve_home\nhome = resolve_home()\n",
            "karpa/home.py": "import os\nHOME = os.environ['KARPA_HOME']\n",
        },
    )
    assert home_reads(root, RULES.layers, HOME_READERS) == [
        "karpa.fetch:2 resolves the home itself",
        "tasks.ingest:3 resolves the home itself",
    ]
