"""What an architecture search records in MLflow: one nested run per trial under the
search's run (its parameters, intermediate values with their steps, objectives and state),
and the Pareto front (plot and table) on the search's run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from karpa.tracking.runs import Tracker

if TYPE_CHECKING:
    from karpa.search.study import TrialRecord

# MLflow has no "pruned" status: a pruned trial ends KILLED (stopped on purpose), a failed
# one FAILED; the tag `karpa.trial_state` says which in Optuna's words.
STATUS = {"complete": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}


def record_trial(
    t: Tracker, parent_id: str, study: str, record: TrialRecord, resumed: bool = False
) -> str:
    """One nested run for a finished trial; -> its run id. `resumed`: the trial was run by
    an earlier, interrupted search of the same study."""
    run_id = t.start_run(
        f"trial-{record.number}",
        parent_id=parent_id,
        tags={
            "karpa.stage": "search-trial",
            "karpa.search.study": study,
            "karpa.trial": str(record.number),
            "karpa.trial_state": record.state,
            "karpa.trial_resumed": str(resumed),
        },
    )
    t.log_params(run_id, {f"search.{k}": v for k, v in record.params.items()})
    for step, value in sorted(record.intermediate.items()):
        t.log_metrics(run_id, {"intermediate.val": value}, step=step)
    if record.values:
        t.log_metrics(run_id, {f"objective.{k}": v for k, v in record.values.items()})
    details = record.details
    figures = {f"val.{app}": q for app, q in details.get("quality", {}).items()}
    for app, lat in details.get("latency_ms", {}).items():
        figures.update({f"{app}.{k}_ms": v for k, v in lat.items()})
    if "parameters" in details:
        figures["parameters"] = details["parameters"]
    if record.seconds is not None:
        figures["seconds"] = record.seconds
    if figures:
        t.log_metrics(run_id, figures)
    if record.error:
        t.set_tags(run_id, {"karpa.failure": record.error[:5000]})
    t.client.set_terminated(run_id, STATUS.get(record.state, "FAILED"))
    return run_id


def record_front(
    t: Tracker, run_id: str, plot: Path, table: Path, metrics: dict[str, float]
) -> None:
    """The front's picture and table, and the search's counts, on the search's run."""
    t.log_artifact(run_id, plot, "search")
    t.log_artifact(run_id, table, "search")
    t.log_metrics(run_id, metrics)
