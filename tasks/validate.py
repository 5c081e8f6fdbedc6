"""The validate task: contracts, quarantine, PII, profiles and drift, then one MLflow run."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from karpa.config import ValidateConfig
from karpa.manifests import PipelineRun, TableManifest, ValidateManifest, raise_if_stopped
from karpa.store import Store
from karpa.validation.partitioned import Partitions
from karpa.validation.samples import write_sample_csv
from karpa.validation.stage import validate
from tasks.retry import transient_only
from tasks.tracking import record_stage

SAMPLE_ROWS = 50


def _metrics(m: ValidateManifest) -> dict[str, float]:
    out: dict[str, float] = {}
    for table, counts in m.counts.items():
        out.update({f"{table}.{k}": v for k, v in counts.items()})
        out[f"{table}.quarantine_share"] = counts["rows_quarantined"] / max(counts["rows_in"], 1)
    for table, kinds in m.pii.items():
        out.update({f"pii.{table}.{kind}": n for kind, n in kinds.items()})
    for table, columns in m.pii_columns.items():
        for column, kinds in columns.items():
            out.update({f"pii.{table}.{column}.{kind}": n for kind, n in kinds.items()})
    for finding in json.loads((Path(m.path) / "drift.json").read_text()):
        out[f"drift.{finding['table']}.{finding['column']}.{finding['statistic']}"] = finding[
            "value"
        ]
    out["warnings"] = len(m.warnings)
    return out


def _head(path: Path, rows: int) -> pd.DataFrame:
    """The first `rows` rows of a Parquet file, read a batch at a time, not whole."""
    file = pq.ParquetFile(path)
    first = next(file.iter_batches(batch_size=rows), None)
    batches = [] if first is None else [first]
    return pa.Table.from_batches(batches, schema=file.schema_arrow).to_pandas()


def _quarantine_samples(m: ValidateManifest, folder: Path) -> Path:
    """The first rows of each quarantine table as CSV (no image bytes): what on-call opens,
    safe to open in a spreadsheet."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted((Path(m.path) / "quarantine").glob("*.parquet")):
        frame = _head(path, SAMPLE_ROWS)
        frame = frame.drop(columns=[c for c in ("bytes",) if c in frame.columns])
        write_sample_csv(frame, folder / f"{path.stem}.csv")
    return folder


@task(retries=1, retry_delay_seconds=2, retry_condition_fn=transient_only, task_run_name="validate")
def validate_tables(
    run: PipelineRun, tables: dict[str, TableManifest], cfg: ValidateConfig
) -> ValidateManifest:
    return _recorded(run, validate(tables, cfg, Store(run.folders.store)))


@task(
    retries=1,
    retry_delay_seconds=2,
    retry_condition_fn=transient_only,
    task_run_name="validate-{name}",
    cache_policy=NO_CACHE,  # the job carries keys and reasons: nothing worth hashing
)
def validate_partition(step: Callable[[Any], Any], job: Any, name: str) -> Any:
    """One partition's step (check, or split and write) wherever the flow's task runner
    puts it: a Dask worker under `engine: dask`."""
    return step(job)


def _on_task_runner(step: Callable[[Any], Any], jobs: list[Any]) -> list[Any]:
    what = step.__name__.removesuffix("_job")  # check | split
    futures = [validate_partition.submit(step, job, name=f"{what}-{job.name}") for job in jobs]
    return [future.result() for future in futures]


def validate_partitions(
    run: PipelineRun,
    tables: dict[str, TableManifest],
    cfg: ValidateConfig,
    partition_rows: int,
    partition_bytes: int | None = None,
) -> ValidateManifest:
    """The validate stage with each partition a task run of the calling flow (so on its
    task runner's workers); called from a flow body, since tasks submit from there."""
    partitions = Partitions(rows=partition_rows, map=_on_task_runner, max_bytes=partition_bytes)
    return _recorded(run, validate(tables, cfg, Store(run.folders.store), partitions=partitions))


def _recorded(run: PipelineRun, m: ValidateManifest) -> ValidateManifest:
    logger = get_run_logger()
    for table, counts in m.counts.items():
        logger.info(
            "%s: %s rows in, %s accepted, %s quarantined",
            table,
            f"{counts['rows_in']:,}",
            f"{counts['rows_accepted']:,}",
            f"{counts['rows_quarantined']:,}",
        )
    for warning in m.warnings:
        logger.warning("contract warning: %s", warning)
    with tempfile.TemporaryDirectory() as tmp:
        record_stage(
            run,
            "validate",
            metrics=_metrics(m),
            tables=list(m.accepted.values()),
            artifacts={
                "validation": Path(m.report),
                "validation/profiles": Path(m.path) / "profiles.json",
                "validation/drift": Path(m.path) / "drift.json",
                "validation/quarantine_samples": _quarantine_samples(m, Path(tmp) / "q"),
            },
            tags={"karpa.validate.skipped": str(m.skipped), "karpa.stop": m.stop or "-"},
            ok=m.stop is None,
        )
    create_markdown_artifact(
        m.summary_markdown, key="validation-summary", description="Data validation of this run"
    )
    raise_if_stopped(m)
    return m
