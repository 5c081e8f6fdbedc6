"""`engine`, `engine_address` and `dask.*`: typed, bounded, each bad value one sentence
naming the file and the key; `--engine` and `--engine-address` are the same keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from karpa.config import CONFIGS, load_config
from karpa.errors import ConfigError

DEMO = CONFIGS / "demo.yaml"
REPO = Path(__file__).resolve().parents[2]


def test_local_is_the_default_and_dask_is_chosen_by_key():
    assert load_config(DEMO).engine == "local"
    cfg = load_config(
        DEMO, ["engine=dask", "engine_address=tcp://10.0.0.5:8786", "dask.partition_rows=5000"]
    )
    assert (cfg.engine, cfg.engine_address, cfg.dask.partition_rows) == (
        "dask",
        "tcp://10.0.0.5:8786",
        5000,
    )
    assert cfg.dask.workers == 2
    assert cfg.dask.partition_bytes == 4 * 2**20
    assert load_config(DEMO, ["dask.partition_mb=64"]).dask.partition_bytes == 64 * 2**20


@pytest.mark.parametrize(
    ("override", "sentence"),
    [
        (["engine=spark"], r"with --set: engine: Input should be 'local' or 'dask'"),
        (["engine=dask", "engine_address=10.0.0.5"], r"with --set: engine_address: .*pattern"),
        (["engine_address=tcp://h:8786"], r"engine_address: .*used by engine: dask only"),
        (["dask.workers=0"], r"with --set: dask.workers: .*greater than or equal to 1"),
        (["dask.partition_rows=10"], r"dask.partition_rows: .*greater than or equal to 100"),
        (["dask.partition_mb=0"], r"dask.partition_mb: .*greater than or equal to 1"),
        (["dask.memory_limit=lots"], r"dask.memory_limit: .*pattern"),
        (["dask.connect_timeout_s=0"], r"dask.connect_timeout_s: .*greater than 0"),
        (["dask.wrokers=2"], r"did you mean 'dask.workers'"),
    ],
)
def test_bad_engine_values_are_one_sentence(override, sentence):
    with pytest.raises(ConfigError, match=sentence) as err:
        load_config(DEMO, override)
    assert str(err.value).startswith(str(DEMO))
    assert "\n" not in str(err.value)


def test_cli_engine_flags_are_the_config_keys(tmp_path):
    env = {**os.environ, "KARPA_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "karpa_cli", "run", "--engine", "dask", "--engine-address", "x"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "karpa: error: configs/demo.yaml with --set: engine_address: String should match"
        )
    ), proc.stderr[-2000:]
    assert not (tmp_path / "home" / "failures.jsonl").exists()  # no flow run was started
