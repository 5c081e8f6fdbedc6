"""Layering: fine-tuning imports neither Prefect, MLflow nor pandas; the applications
import neither Prefect nor MLflow. Checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import importlib, sys
for name in {modules!r}:
    importlib.import_module(name)
print(sorted({{m.split(".")[0] for m in sys.modules}} & {banned!r}))
"""

FINETUNE = [
    "karpa_models.finetune." + m
    for m in (
        "catalogue",
        "classifier",
        "config",
        "full",
        "loop",
        "next_item",
        "predictors",
        "probe",
        "recommender",
        "saved",
        "scratch",
        "sequences",
        "text",
    )
]
APPLICATIONS = [
    "karpa.applications." + m
    for m in ("intent", "sentiment", "recommendation", "report", "cards", "figures")
]


def _heavy(modules: list[str], banned: set[str]) -> str:
    code = PROBE.format(modules=modules, banned=banned)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_finetune_imports_no_pipeline_or_dataframe_library():
    assert _heavy(FINETUNE, {"prefect", "mlflow", "pandas"}) == "[]"


def test_applications_import_no_orchestration_or_tracking():
    assert _heavy(APPLICATIONS, {"prefect", "mlflow"}) == "[]"
