"""The suite's guard against MLflow's default store (tests/store_guard.py), run as the
conftest of a throwaway project in a pytest subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

STORE_GUARD = Path(__file__).with_name("store_guard.py")


def _pytest(project: Path, test_source: str) -> subprocess.CompletedProcess:
    (project / "conftest.py").write_text(STORE_GUARD.read_text())
    (project / "test_it.py").write_text(textwrap.dedent(test_source))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_it.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_test_that_creates_mlflow_db_errors_and_its_neighbours_pass(tmp_path):
    result = _pytest(
        tmp_path,
        """
        import sqlite3

        def test_quiet():
            pass

        def test_leaks():
            sqlite3.connect("mlflow.db").close()

        def test_after_it():
            pass
        """,
    )
    assert result.returncode == 1, result.stdout
    # The test itself passed; its teardown report carries the error.
    assert "3 passed, 1 error" in result.stdout
    assert "ERROR test_it.py::test_leaks - " in result.stdout
    assert "mlflow.db created or changed during this test" in result.stdout


def test_a_module_fixture_that_creates_mlruns_is_caught(tmp_path):
    result = _pytest(
        tmp_path,
        """
        import os
        import pytest

        @pytest.fixture(scope="module")
        def store():
            os.mkdir("mlruns")

        def test_uses_it(store):
            pass
        """,
    )
    assert result.returncode == 1, result.stdout
    assert "mlruns created or changed during this test" in result.stdout


def test_a_store_that_was_already_there_is_left_alone(tmp_path):
    (tmp_path / "mlflow.db").write_bytes(b"")
    result = _pytest(tmp_path, "def test_reads_nothing():\n    pass\n")
    assert result.returncode == 0, result.stdout


def test_a_store_that_was_already_there_and_is_written_to_is_caught(tmp_path):
    store = tmp_path / "mlflow.db"
    store.write_bytes(b"")
    os.utime(store, (1_000_000_000, 1_000_000_000))  # clearly older than the run's writes
    result = _pytest(tmp_path, "def test_writes():\n    open('mlflow.db', 'ab').write(b'x')\n")
    assert result.returncode == 1, result.stdout
    assert "mlflow.db created or changed during this test" in result.stdout
