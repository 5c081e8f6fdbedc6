"""The run summary, the parent run's headline metrics and the failure record, from plain
data."""

from __future__ import annotations

import datetime as dt
import json

from karpa.run_report import (
    RunFacts,
    TaskTiming,
    append_record,
    failed_stage,
    failure_record,
    headline,
    mlflow_ui_url,
    parent_metrics,
    render_summary,
    row_counts,
    stage_timings,
)

T0 = dt.datetime(2026, 1, 1, 2, 0, tzinfo=dt.UTC)


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


TASKS = [
    TaskTiming("open_pipeline_run-1a2", "COMPLETED", _at(0), _at(1)),
    TaskTiming("ingest-items", "COMPLETED", _at(1), _at(3)),
    TaskTiming("ingest-events", "COMPLETED", _at(1.5), _at(4)),
    TaskTiming("log_ingest-3f1", "COMPLETED", _at(4), _at(4.5)),
    TaskTiming("validate", "FAILED", _at(4.5), _at(9)),
    TaskTiming("close_pipeline_run-9e0", "COMPLETED", _at(9), _at(9.25)),
]
METRICS = {
    "ingest": {"items.rows": 10, "events.rows": 100, "items.bytes": 5, "tables": 2},
    "validate": {
        "items.rows_in": 10,
        "items.rows_accepted": 9,
        "items.rows_quarantined": 1,
        "events.rows_in": 100,
        "events.rows_accepted": 100,
        "events.rows_quarantined": 0,
        "items.quarantine_share": 0.1,
        "drift.items.title.psi": 0.2,
        "warnings": 1,
    },
    "intent": {"accuracy": 0.8, "macro_f1": 0.7, "drift.x": 1.0},
    "finetune-sentiment": {
        "headline.estimate": 0.81,
        "headline.low": 0.77,
        "headline.high": 0.85,
        "gain.estimate": 0.24,
        "train.loss": 0.3,
    },
}


def _facts(**kw) -> RunFacts:
    base = dict(
        flow_run_name="calm-fox",
        state="FAILED",
        message="items: 12% of rows quarantined (rule title_not_empty)",
        parameters={"until": "validate", "data": "/d", "preset": None},
        timings=stage_timings(TASKS),
        flow_seconds=9.5,
        deployment="karpa-retrain/validate-data",
        mlflow_run_id="abc",
        mlflow_url="http://127.0.0.1:5000/#/experiments/1/runs/abc",
        stage_metrics=METRICS,
    )
    return RunFacts(**{**base, **kw})


def test_stage_timings_are_wall_per_stage_in_pipeline_order():
    timings = {t.stage: t for t in stage_timings(TASKS)}
    assert list(timings) == ["ingest", "validate", "tracking"]
    assert timings["ingest"].seconds == 3.0  # side by side: first start to last end
    assert timings["ingest"].tasks == 2
    assert timings["validate"].state == "FAILED"
    assert timings["tracking"].seconds == 1.75  # summed, interleaved with the stages
    assert failed_stage(TASKS) == "validate"


def test_rows_come_from_validation_else_ingestion():
    assert row_counts(METRICS)["items"] == {
        "rows_in": 10,
        "rows_accepted": 9,
        "rows_quarantined": 1,
    }
    assert row_counts({"ingest": METRICS["ingest"]}) == {
        "items": {"rows_in": 10},
        "events": {"rows_in": 100},
    }


def test_headline_skips_noise_and_row_counts():
    assert headline("validate", METRICS["validate"]) == {
        "items.quarantine_share": 0.1,
        "warnings": 1,
    }
    assert headline("intent", METRICS["intent"]) == {"accuracy": 0.8, "macro_f1": 0.7}


def test_summary_says_why_links_mlflow_and_lists_stages_rows_metrics():
    md = render_summary(_facts())
    assert md.startswith("# Pipeline run `calm-fox`: failed")
    assert "**Why:** items: 12% of rows quarantined" in md
    assert "[abc](http://127.0.0.1:5000/#/experiments/1/runs/abc)" in md
    assert "`until=validate`" in md and "preset" not in md
    assert "| validate | failed | 1 | 4.5 |" in md
    assert "| items | 10 | 9 | 1 |" in md
    assert "| intent | accuracy | 0.8 |" in md
    assert "| finetune-sentiment | headline.estimate | 0.81 |" in md
    assert "| finetune-sentiment | gain.estimate | 0.24 |" in md and "train.loss" not in md


def test_summary_without_mlflow_run_says_so():
    md = render_summary(
        _facts(state="COMPLETED", message=None, mlflow_run_id=None, stage_metrics={})
    )
    assert "Why" not in md and "none (the run stopped before tracking began)" in md


def test_parent_metrics_and_failure_record():
    facts = _facts()
    metrics = parent_metrics(facts)
    assert metrics["seconds.ingest"] == 3.0 and metrics["seconds.total"] == 9.5
    # Each application's headline and pretraining gain, to compare runs at a glance.
    assert (metrics["sentiment.headline"], metrics["sentiment.gain"]) == (0.81, 0.24)
    assert (metrics["rows.in"], metrics["rows.accepted"], metrics["rows.quarantined"]) == (
        110,
        109,
        1,
    )
    record = failure_record(
        facts, flow_run_id="f-1", flow_run_url="http://x/runs/f-1", stage="validate", now=T0
    )
    assert record["reason"] == facts.message and record["stage"] == "validate"
    assert record["deployment"] == "karpa-retrain/validate-data"
    assert record["time"] == "2026-01-01T02:00:00+00:00"


def test_failure_records_are_whole_json_lines(tmp_path):
    path = tmp_path / "home" / "failures.jsonl"
    append_record(path, {"reason": "items: file x.csv does not exist", "at": dt.date(2026, 1, 2)})
    append_record(path, {"reason": "second"})
    lines = path.read_text().splitlines()
    assert [json.loads(line)["reason"] for line in lines] == [
        "items: file x.csv does not exist",
        "second",
    ]
    assert json.loads(lines[0])["at"] == "2026-01-02"


def test_the_mlflow_link_follows_a_tracking_server(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert mlflow_ui_url("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///x.db")
    assert mlflow_ui_url("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000/")
    assert mlflow_ui_url("http://127.0.0.1:5000") == "http://mlflow.internal:5000"
