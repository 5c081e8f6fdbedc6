"""`engine: dask`: the data stages on a local Dask cluster of two workers, through
Prefect's DaskTaskRunner, give the single-process tables row for row; a scheduler that
does not answer is one sentence naming it, before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import psutil
import pytest

from flows.params import RetrainParams
from flows.retrain import retrain
from karpa.align.stage import align, split_hints
from karpa.cluster import ClusterError, check_scheduler
from karpa.config import CONFIGS, load_config
from karpa.demo import generate_world
from karpa.ingest.stage import ingest_table
from karpa.servers import free_port
from karpa.store import Store
from karpa.validation.stage import validate
from tests.validation.test_partitioned import plant_bad_rows

DEMO = str(CONFIGS / "demo.yaml")


def _workers_alive() -> list[psutil.Process]:
    """Dask worker processes (spawned children) of this test process."""
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if "spawn_main" in " ".join(p.cmdline())
    ]


@pytest.mark.slow
def test_dask_engine_gives_the_single_process_tables(prefect_api, home, tmp_path, monkeypatch):
    # Dask's nannies write their workers' variables into the process that starts them;
    # the run puts them back, so what it starts after the data stages does not inherit them.
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    world = tmp_path / "world"
    generate_world(world, scale=0.1, seed=3)
    plant_bad_rows(world)
    overrides = [
        "until=align",
        "engine=dask",
        "dask.workers=2",
        "dask.partition_rows=2500",  # events in four partitions, each its own task run
        "validate.reference_time='2026-12-01T00:00:00'",
    ]
    params = RetrainParams(config=DEMO, data=str(world), overrides=overrides)
    result = retrain(**params.model_dump())
    assert not _workers_alive()  # the local cluster closed with the run
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ and os.environ["OMP_NUM_THREADS"] == "2"

    # The single-process path, in a store of its own.
    cfg = load_config(DEMO, overrides[:1] + overrides[-1:], str(world))
    store = Store(tmp_path / "single")
    tables = {
        t: ingest_table(t, s, cfg.data.root, cfg.ingest, store) for t, s in cfg.data.sources.items()
    }
    assert [t.fingerprint for t in tables.values()] == [t["fingerprint"] for t in result["tables"]]
    single = validate(tables, cfg.validate_, store)
    assert single.counts == result["validate"]
    on_dask = Path(home.store) / "validated" / single.fingerprint
    for table in tables:
        for kind in ("accepted", "quarantine"):
            pd.testing.assert_frame_equal(
                pd.read_parquet(on_dask / kind / f"{table}.parquet"),
                pd.read_parquet(Path(single.path) / kind / f"{table}.parquet"),
            )
    for name in ("results.json", "profiles.json"):
        assert (on_dask / name).read_text() == (Path(single.path) / name).read_text()
    views = align(single.accepted, cfg.align, store, split_hints=split_hints(cfg.data.sources))
    assert (Path(home.store) / "views" / views.fingerprint).is_dir()
    assert views.views == result["align"]


def test_a_scheduler_that_does_not_answer_is_one_sentence(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(ClusterError) as err:
        check_scheduler(address, 1.0)
    message = str(err.value)
    assert f"Dask scheduler at {address} did not answer within 1 s" in message
    assert "\n" not in message


@pytest.mark.slow
def test_no_scheduler_fails_the_run_before_anything_is_written(prefect_api, home, tmp_path):
    world = tmp_path / "world"
    generate_world(world, scale=0.05, seed=1)
    address = f"tcp://127.0.0.1:{free_port()}"
    overrides = ["until=validate", "engine=dask", f"engine_address={address}"]
    params = RetrainParams(
        config=DEMO, data=str(world), overrides=[*overrides, "dask.connect_timeout_s=1"]
    )
    with pytest.raises(ClusterError, match=f"Dask scheduler at {address} did not answer"):
        retrain(**params.model_dump())
    store = Path(home.store)
    assert not any(
        (store / kind).exists() and any((store / kind).iterdir())
        for kind in ("tables", "validated")
    )
