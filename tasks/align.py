"""The align task: aligned views, splits and coverage, then one MLflow run."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task

from karpa.align.stage import align, split_hints
from karpa.config import AlignConfig, SourceSpec
from karpa.manifests import AlignManifest, PipelineRun, TableManifest, raise_if_stopped
from karpa.store import Store
from tasks.retry import transient_only
from tasks.tracking import record_stage


@task(retries=1, retry_delay_seconds=2, retry_condition_fn=transient_only, task_run_name="align")
def align_views(
    run: PipelineRun,
    accepted: dict[str, TableManifest],
    cfg: AlignConfig,
    sources: dict[str, SourceSpec],
) -> AlignManifest:
    m = align(accepted, cfg, Store(run.folders.store), split_hints=split_hints(sources))
    state = "unchanged, skipped" if m.skipped else "built"
    get_run_logger().info(
        "align: views %s (%s)", state, ", ".join(f"{k} {v:,}" for k, v in m.views.items())
    )
    folder = Path(m.path)
    record_stage(
        run,
        "align",
        metrics={**m.coverage, **{f"views.{k}": v for k, v in m.views.items()}},
        # Split membership travels with the run, so any later evaluation can be audited.
        artifacts={
            "align": folder / "coverage.html",
            "align/splits": folder / "splits.parquet",
            "align/fewshot": folder / "fewshot.parquet",
        },
        tags={
            "karpa.align.skipped": str(m.skipped),
            "karpa.transductive": str(m.transductive),
            "karpa.stop": m.stop or "-",
        },
        ok=m.stop is None,
    )
    raise_if_stopped(m)
    return m
