"""bench/_common: which log lines the benches show (their own, the fine-tunes' and the
learning curve's progress and choices, any warning) and which they leave out."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _common import shown


def record(name: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, "a line", None, None)


@pytest.mark.parametrize(
    "name",
    [
        "bench.quality",
        "karpa_models.finetune.full",
        "karpa_models.finetune.contrastive",
        "karpa.applications.curve",
        "karpa.applications.curve_modes",
    ],
)
def test_the_bench_and_progress_info_lines_are_shown(name: str) -> None:
    assert shown(record(name))


@pytest.mark.parametrize(
    "name",
    [
        "great_expectations.core",
        "karpa.applications.intent",
        "karpa.applications.curves",  # a prefix of a name is not that logger
        "karpa_models.finetuned",
        "benchmarks",
    ],
)
def test_other_info_lines_are_left_out(name: str) -> None:
    assert not shown(record(name))


def test_a_warning_from_anywhere_is_shown() -> None:
    assert shown(record("great_expectations.core", logging.WARNING))
