"""The trust table of bench/quality.py: what every evaluation already measures about the
served model beyond its accuracy (issue 25), read from the application reports.

Per karpa row: the metric on the clean robustness sample and under each perturbation
(karpa/evaluation/robustness.py; 95% intervals over the sample) and the deletion test's
area between the curves (karpa/evaluation/faithfulness.py; above zero: removing the
most-attributed tokens lowers the predicted class's probability more than removing as
many random ones)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from _quality_rows import table

from karpa.evaluation.robustness import SLICE


def _interval(value: float, low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def robustness_records(report: dict[str, Any], metric: str) -> list[dict[str, Any]]:
    """The report's robustness slice for `metric`, clean first (as recorded)."""
    return [r for r in report.get("slices", []) if r["slice"] == SLICE and r["metric"] == metric]


def deletion_area(report: dict[str, Any]) -> str:
    """The deletion test's area with its interval, or "-" where evaluation ran none."""
    area = (report.get("explanations") or {}).get("area")
    if not area:
        return "-"
    return _interval(area["estimate"], area.get("low"), area.get("high"))


def trust_table(named_reports: Sequence[tuple[str, dict[str, Any]]], metric: str) -> str:
    """One row per (name, report): `metric` clean and under each perturbation, then the
    deletion area. Buckets follow the first report's order; a missing one prints "-"."""
    buckets: list[str] = []
    for _, report in named_reports:
        for record in robustness_records(report, metric):
            if record["bucket"] not in buckets:
                buckets.append(record["bucket"])
    body = []
    for name, report in named_reports:
        found = {r["bucket"]: r for r in robustness_records(report, metric)}
        cells = [
            _interval(found[b]["value"], found[b].get("low"), found[b].get("high"))
            if b in found
            else "-"
            for b in buckets
        ]
        body.append([name, *cells, deletion_area(report)])
    return table(["model", *(f"{metric}: {b}" for b in buckets), "deletion area"], body)


def sample_size(named_reports: Sequence[tuple[str, dict[str, Any]]], metric: str) -> int:
    """Texts in the robustness sample (the clean bucket's n), 0 when none was evaluated."""
    for _, report in named_reports:
        for record in robustness_records(report, metric):
            return int(record["n"])
    return 0
