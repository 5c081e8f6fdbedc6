"""The search task: run (or resume) the Optuna study on the aligned views, each trial a
nested MLflow run; then the Pareto front as a plot and a table on the search's MLflow run
and as a markdown artifact on the Prefect run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from karpa.config import RunConfig
from karpa.manifests import AlignManifest, PipelineRun
from karpa.search.preset import KNEE_RULE, write_front
from karpa.search.study import TrialRecord, default_storage, run_search
from karpa.tracking.search import record_front, record_trial
from tasks.tracking import tracker

FRONT_KEY = "search-front"


@task(task_run_name="search")
def search_study(run: PipelineRun, views: AlignManifest, cfg: RunConfig) -> dict[str, Any]:
    """The study until it holds search.trials finished trials or the budget is spent;
    -> a small manifest (the study, counts, the front's trials and the knee)."""
    logger = get_run_logger()
    t = tracker(run)
    home = run.folders
    storage = cfg.search.storage or default_storage(home.root)
    study = cfg.search.study
    t.set_tags(run.mlflow_run_id, {"karpa.search.study": study})

    def on_trial(record: TrialRecord) -> None:
        record_trial(t, run.mlflow_run_id, study, record)

    result = run_search(cfg, Path(views.path), home.root / "search" / "work", storage, on_trial)
    earlier = [r for r in result.records if r.number not in result.new and r.state != "running"]
    for record in earlier:  # trials of an earlier, interrupted search of this study
        record_trial(t, run.mlflow_run_id, study, record, resumed=True)
    manifest = write_front(result, home.reports / "search" / study)
    record_front(
        t,
        run.mlflow_run_id,
        Path(manifest["plot"]),
        Path(manifest["table"]),
        {f"search.{k}": v for k, v in manifest["counts"].items()},
    )
    create_markdown_artifact(
        key=FRONT_KEY,
        markdown=f"# Search `{study}`: Pareto front\n\n{manifest['markdown']}\n"
        f"Knee: trial {manifest['knee']} ({KNEE_RULE}).\n",
        description="The architecture search's Pareto front",
    )
    logger.info(
        "search %s: %d new trials, %s; front %s, knee %s",
        study,
        len(result.new),
        manifest["counts"],
        manifest["front"],
        manifest["knee"],
    )
    return {k: v for k, v in manifest.items() if k != "markdown"}
