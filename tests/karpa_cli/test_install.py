"""`pip install` of the built package into a fresh virtual environment, then `karpa demo`
and `karpa run` from an empty folder outside the checkout: the package ships what a run
needs (run and model presets, contracts, report templates) and nothing assumes a checkout.

The dependencies are not downloaded again: a `.pth` file puts this environment's
site-packages after the new environment's own, where only karpa itself is installed."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


# A new user's shell: none of this session's karpa, Prefect, MLflow or import-path settings.
ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith(("PREFECT_", "KARPA_", "MLFLOW_", "PYTHONPATH"))
}


def _run(cmd: list[str], cwd: Path, timeout: float = 900):
    done = subprocess.run(
        cmd,
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_the_installed_package_runs_from_an_empty_folder(tmp_path):
    src, wheels, venv = tmp_path / "src", tmp_path / "wheels", tmp_path / "venv"
    work = tmp_path / "work"
    work.mkdir()
    # Built from a copy: an in-tree build would leave build/ in the checkout.
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".karpa", "build", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(wheels),
            str(src),
        ],
        cwd=tmp_path,
    )
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            *map(str, wheels.glob("karpa-*.whl")),
        ],
        cwd=tmp_path,
    )
    own_site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            cwd=tmp_path,
        ).stdout.strip()
    )
    (own_site / "zz-karpa-test-dependencies.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n"
    )

    where = _run(
        [
            str(python),
            "-c",
            "import karpa, karpa_models, data_contracts, flows; print(karpa.__file__)",
        ],
        cwd=work,
    ).stdout.strip()
    assert Path(where).is_relative_to(venv), where  # the installed copy, not the checkout

    karpa = str(venv / "bin" / "karpa")
    _run([karpa, "demo", "--scale", "0.1", "--out", "world"], cwd=work)
    done = _run([karpa, "run", "--data", "world", "--set", "until=align"], cwd=work)
    assert "MLflow run:" in done.stdout
    assert (work / ".karpa" / "store").is_dir()  # the home is the working folder's
    reports = list((work / ".karpa").rglob("coverage.html"))
    assert reports and "<table" in reports[0].read_text()  # templates shipped too
