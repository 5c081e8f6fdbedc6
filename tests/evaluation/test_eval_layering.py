"""The evaluation library stays pure: no Prefect, MLflow, torch or pyplot behind its imports."""

import subprocess
import sys

MODULES = ["baselines", "bootstrap", "classification", "model_card", "plots", "ranking", "slices"]

# Run in a fresh interpreter: this test process may already have imported anything.
PROBE = """
import importlib, sys
for name in {modules!r}:
    importlib.import_module("karpa.evaluation." + name)
heavy = [m for m in sys.modules
         if m.split(".")[0] in ("torch", "prefect", "mlflow") or m == "matplotlib.pyplot"]
print(sorted(heavy))
"""


def test_imports_nothing_heavy():
    code = PROBE.format(modules=MODULES)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
