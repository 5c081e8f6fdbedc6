"""What a finished pipeline run tells people: a markdown summary for the Prefect UI, headline
metrics for its MLflow parent run, and a failure record for on-call.

Pure functions over plain data (task timings from Prefect, metrics from MLflow), so they are
tested without either; flows/hooks.py (the flows' state hooks) gathers the data and
publishes the results.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from karpa.config import STAGES
from karpa.errors import KarpaError
from karpa.pretraining.verdict import sentence_from_metrics

# Stages a task name can start with ("ingest-items", "validate", "pretrain", ...); any other
# task (opening and closing MLflow runs, logging) counts as tracking overhead.
KNOWN_STAGES = (*STAGES, "evaluate")
TRACKING = "tracking"
# Per stage, the metrics worth a line in the summary; other stages show their first few
# metrics that are neither drift, PII nor byte counts.
HEADLINE = {
    "ingest": re.compile(r"^tables(_skipped)?$"),
    "validate": re.compile(r"^(warnings|[a-z]+\.quarantine_share)$"),
    "align": re.compile(r"^(items\.share_with_\w+|users\.evaluable|views\.\w+)$"),
    "pretrain": re.compile(r"^(steps|samples_per_s|final\.\w+|retrieval\..*@1)$"),
    # One entry per application ("finetune-intent"): its headline and pretraining gain.
    "finetune": re.compile(r"^(headline|gain)\.(estimate|low|high)$"),
}
NOISE = re.compile(r"^(drift|pii)\.|\.(bytes|rows|rows_in|rows_accepted|rows_quarantined)$")
MAX_PER_STAGE = 12
MESSAGE_MAX = 500
ROW_COUNTS = ("rows_in", "rows_accepted", "rows_quarantined")


@dataclass(frozen=True)
class TaskTiming:
    """One task run as Prefect recorded it."""

    name: str
    state: str
    start: dt.datetime | None
    end: dt.datetime | None


@dataclass(frozen=True)
class StageTiming:
    stage: str
    seconds: float
    tasks: int
    state: str  # the worst state among its tasks


@dataclass
class RunFacts:
    """Everything the summary says, gathered from Prefect and MLflow."""

    flow_run_name: str
    state: str
    message: str | None
    parameters: Mapping[str, Any]
    timings: list[StageTiming]
    flow_seconds: float | None = None
    deployment: str | None = None
    mlflow_run_id: str | None = None
    mlflow_url: str | None = None
    stage_metrics: dict[str, dict[str, float]] = field(default_factory=dict)


def stage_of(task_name: str) -> str:
    head = task_name.split("-", 1)[0]
    return head if head in KNOWN_STAGES else TRACKING


def _worst(states: list[str]) -> str:
    for bad in ("FAILED", "CRASHED", "CANCELLED", "RUNNING", "PENDING"):
        if bad in states:
            return bad
    return states[0] if states else "UNKNOWN"


def stage_timings(tasks: list[TaskTiming]) -> list[StageTiming]:
    """Wall time per stage (first start to last end: ingest tasks run side by side), in
    pipeline order, with tracking last."""
    grouped: dict[str, list[TaskTiming]] = {}
    for t in tasks:
        grouped.setdefault(stage_of(t.name), []).append(t)
    order = [*KNOWN_STAGES, TRACKING]
    out = []
    for stage in sorted(grouped, key=order.index):
        runs = grouped[stage]
        if stage == TRACKING:
            # Tracking tasks are interleaved with the stages: their own time, summed.
            seconds = sum(_seconds(t.start, t.end) for t in runs)
        else:
            starts = [t.start for t in runs if t.start]
            ends = [t.end for t in runs if t.end]
            seconds = _seconds(min(starts), max(ends)) if starts and ends else 0.0
        out.append(StageTiming(stage, seconds, len(runs), _worst([t.state for t in runs])))
    return out


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float:
    return (end - start).total_seconds() if start and end else 0.0


def failed_stage(tasks: list[TaskTiming]) -> str | None:
    """The stage of the first task that failed, if any did."""
    failed = [t for t in tasks if t.state in ("FAILED", "CRASHED")]
    failed.sort(key=lambda t: t.end or t.start or dt.datetime.max.replace(tzinfo=dt.UTC))
    return stage_of(failed[0].name) if failed else None


def headline(stage: str, metrics: Mapping[str, float]) -> dict[str, float]:
    pattern = HEADLINE.get(stage_kind(stage))
    keys = sorted(k for k in metrics if (pattern.match(k) if pattern else not NOISE.search(k)))
    return {k: metrics[k] for k in keys[:MAX_PER_STAGE]}


def stage_kind(stage: str) -> str:
    """ "finetune-intent" -> "finetune": a stage with one child run per application."""
    return stage.split("-", 1)[0]


def row_counts(stage_metrics: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, int]]:
    """Per table: rows in, accepted, quarantined (after validation), else rows ingested."""
    validate = stage_metrics.get("validate", {})
    tables: dict[str, dict[str, int]] = {}
    for key, value in validate.items():
        table, _, name = key.partition(".")
        if name in ROW_COUNTS:
            tables.setdefault(table, {})[name] = int(value)
    if tables:
        return tables
    for key, value in stage_metrics.get("ingest", {}).items():
        table, _, name = key.partition(".")
        if name == "rows":
            tables[table] = {"rows_in": int(value)}
    return tables


def parent_metrics(facts: RunFacts) -> dict[str, float]:
    """Headline numbers for the MLflow parent run, so runs compare at a glance."""
    out = {f"seconds.{t.stage}": round(t.seconds, 3) for t in facts.timings}
    if facts.flow_seconds is not None:
        out["seconds.total"] = round(facts.flow_seconds, 3)
    rows = row_counts(facts.stage_metrics)
    for name in ROW_COUNTS:
        values = [counts[name] for counts in rows.values() if name in counts]
        if values:
            out[f"rows.{name.removeprefix('rows_')}"] = float(sum(values))
    for stage, metrics in facts.stage_metrics.items():
        if stage_kind(stage) == "finetune" and "-" in stage:
            app = stage.split("-", 1)[1]
            for key, name in (("headline.estimate", "headline"), ("gain.estimate", "gain")):
                if key in metrics:
                    out[f"{app}.{name}"] = metrics[key]
    return out


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.4g}"


def render_summary(facts: RunFacts) -> str:
    """The markdown summary artifact of one pipeline run."""
    lines = [f"# Pipeline run `{facts.flow_run_name}`: {facts.state.lower()}", ""]
    if facts.message and facts.state != "COMPLETED":
        lines += [f"**Why:** {facts.message}", ""]
    if facts.deployment:
        lines.append(f"- Deployment: `{facts.deployment}`")
    if facts.mlflow_run_id:
        target = (
            f"[{facts.mlflow_run_id}]({facts.mlflow_url})"
            if facts.mlflow_url
            else f"`{facts.mlflow_run_id}`"
        )
        lines.append(f"- MLflow parent run: {target}")
    else:
        lines.append("- MLflow parent run: none (the run stopped before tracking began)")
    given = ", ".join(
        f"`{k}={v}`" for k, v in sorted(facts.parameters.items()) if v not in (None, [], "")
    )
    lines += [f"- Parameters: {given or 'defaults'}", ""]

    lines += ["## Stages", "", "| stage | state | tasks | seconds |", "|---|---|---:|---:|"]
    for t in facts.timings:
        lines.append(f"| {t.stage} | {t.state.lower()} | {t.tasks} | {t.seconds:.1f} |")
    if facts.flow_seconds is not None:
        lines.append(f"| **total** | {facts.state.lower()} | | {facts.flow_seconds:.1f} |")

    rows = row_counts(facts.stage_metrics)
    if rows:
        lines += [
            "",
            "## Rows",
            "",
            "| table | in | accepted | quarantined |",
            "|---|---:|---:|---:|",
        ]
        for table, counts in sorted(rows.items()):
            cells = [_fmt(counts[k]) if k in counts else "" for k in ROW_COUNTS]
            lines.append(f"| {table} | {' | '.join(cells)} |")

    verdict = sentence_from_metrics(facts.stage_metrics.get("pretrain", {}))
    if verdict:
        lines += ["", "## Foundation", "", verdict]

    shown = {s: headline(s, m) for s, m in facts.stage_metrics.items()}
    if any(shown.values()):
        lines += ["", "## Headline metrics", "", "| stage | metric | value |", "|---|---|---:|"]
        order = [*KNOWN_STAGES]
        rank = {s: order.index(stage_kind(s)) if stage_kind(s) in order else 99 for s in shown}
        for stage in sorted(shown, key=lambda s: (rank[s], s)):
            for key, value in shown[stage].items():
                lines.append(f"| {stage} | {key} | {_fmt(value)} |")
    return "\n".join(lines) + "\n"


def failure_record(
    facts: RunFacts,
    *,
    flow_run_id: str,
    flow_run_url: str | None,
    stage: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """One line of `<home>/failures.jsonl`: what on-call reads first."""
    return {
        "time": now.isoformat(timespec="seconds"),
        "flow_run": facts.flow_run_name,
        "flow_run_id": flow_run_id,
        "flow_run_url": flow_run_url,
        "deployment": facts.deployment,
        "stage": stage,
        "reason": facts.message,
        "mlflow_run_id": facts.mlflow_run_id,
        "mlflow_run_url": facts.mlflow_url,
        "parameters": dict(facts.parameters),
    }


def failure_sentence(exc: BaseException) -> str:
    """A failed run's final message: a KarpaError already is one sentence naming the file,
    column or rule; anything else is a bug, named by its type and first line."""
    if isinstance(exc, KarpaError):
        text = str(exc)
    else:
        first = (str(exc).strip().splitlines() or [""])[0]
        text = (
            f"Unexpected {type(exc).__name__}: {first}"
            if first
            else f"Unexpected {type(exc).__name__}"
        )
    return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 1] + "…"


def mlflow_ui_url(configured: str) -> str:
    """Where the MLflow UI is: a tracking server serves its own UI, so with an HTTP
    tracking URI that is the address; otherwise the configured one (`karpa ui`)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    return uri.rstrip("/") if uri.startswith(("http://", "https://")) else configured


def append_record(path: Path, record: Mapping[str, Any]) -> None:
    """One JSON line per record, in one write, so concurrent runs never interleave half
    lines (`<home>/failures.jsonl`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=str) + "\n")
