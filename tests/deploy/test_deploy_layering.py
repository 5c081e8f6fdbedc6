"""`karpa deploy` drives Prefect through its CLI and REST API, and the run report is plain
data: neither imports Prefect or MLflow, so `karpa --help` stays fast."""

import subprocess
import sys

PROBE = """
import importlib, sys
for name in ("karpa.deploy", "karpa.run_report", "karpa_cli.main"):
    importlib.import_module(name)
print(sorted({m.split(".")[0] for m in sys.modules} & {"prefect", "mlflow", "torch"}))
"""


def test_deploy_and_report_import_nothing_heavy():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
