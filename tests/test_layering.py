"""The layering rules of STYLE.md, checked on the source: pure packages import neither
Prefect nor MLflow; only `tasks` and `flows` import Prefect; only `karpa.tracking`
imports MLflow."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_pure_packages_import_neither_prefect_nor_mlflow():
    for package in ("karpa_models", "data_contracts"):
        for path in _modules(package):
            bad = _imports(path) & {"prefect", "mlflow"}
            assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_only_tasks_and_flows_import_prefect():
    for path in [*_modules("karpa"), *_modules("karpa_models"), *_modules("data_contracts")]:
        if path.is_relative_to(ROOT / "karpa" / "deploy.py"):
            continue  # `karpa deploy` drives the Prefect CLI and client, by design
        assert "prefect" not in _imports(path), f"{path.relative_to(ROOT)} imports prefect"


def test_only_the_tracking_package_imports_mlflow():
    tracking = ROOT / "karpa" / "tracking"
    for package in ("karpa", "karpa_models", "data_contracts", "tasks", "flows"):
        for path in _modules(package):
            if path.is_relative_to(tracking):
                continue
            assert "mlflow" not in _imports(path), f"{path.relative_to(ROOT)} imports mlflow"
