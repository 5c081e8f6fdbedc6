"""The progress helper of long loops: its lines carry count, percentage, rate and ETA, on
a fake clock; it writes when a line is due and stays quiet otherwise."""

from __future__ import annotations

import logging
import math

import pytest

from karpa_models.progress import Progress, format_duration, format_rate


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "karpa_models.progress"]


def test_a_line_says_count_percentage_rate_eta_and_the_detail(clock, caplog):
    progress = Progress("intent fine-tune", 1200, every_s=20.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="karpa_models.progress"):
        clock.now += 32.0
        progress.update(400, detail="val macro-F1 0.81")
    assert _lines(caplog) == [
        "intent fine-tune: step 400/1,200 (33%), 12.5 steps/s, ETA 1 min 04 s, val macro-F1 0.81"
    ]
    assert progress.rate() == 12.5 and progress.eta_s() == 64.0


def test_lines_come_every_interval_and_at_the_end_not_every_step(clock, caplog):
    progress = Progress("pretrain", 100, every_s=10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="karpa_models.progress"):
        for step in range(1, 101):
            clock.now += 1.0  # one step a second: a line at steps 10, 20, ..., 100
            progress.update(step)
    lines = _lines(caplog)
    assert len(lines) == 10
    assert lines[0] == "pretrain: step 10/100 (10%), 1.0 steps/s, ETA 1 min 30 s"
    assert lines[-1] == "pretrain: step 100/100 (100%), 1.0 steps/s, ETA 0 s"


def test_every_n_items_writes_without_waiting_for_the_clock(clock, caplog):
    progress = Progress("recommendation baselines", 3, unit="baseline", every=1, clock=clock)
    with caplog.at_level(logging.INFO, logger="karpa_models.progress"):
        for name in ("popularity", "item_knn", "ease"):
            clock.now += 2.0
            assert progress.update(detail=f"{name} fitted")
    assert _lines(caplog) == [
        "recommendation baselines: baseline 1/3 (33%), 0.50 baselines/s, ETA 4 s, "
        "popularity fitted",
        "recommendation baselines: baseline 2/3 (67%), 0.50 baselines/s, ETA 2 s, item_knn fitted",
        "recommendation baselines: baseline 3/3 (100%), 0.50 baselines/s, ETA 0 s, ease fitted",
    ]


def test_a_short_loop_without_every_stays_quiet(clock, caplog):
    """A bootstrap of a second is called many times per application: no line at all."""
    progress = Progress("bootstrap", 2000, unit="resample", every_s=20.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="karpa_models.progress"):
        for i in range(1, 2001):
            clock.now += 0.0005
            assert not progress.update(i)
    assert _lines(caplog) == []


def test_a_resumed_loop_counts_its_rate_from_where_it_resumed(clock, caplog):
    progress = Progress("pretrain", 1000, start=600, clock=clock)
    clock.now += 10.0
    with caplog.at_level(logging.INFO, logger="karpa_models.progress"):
        line = progress.log(700, detail="loss 4.0512")
    assert line == "pretrain: step 700/1,000 (70%), 10.0 steps/s, ETA 30 s, loss 4.0512"
    assert _lines(caplog) == [line]


def test_unknown_rate_and_long_durations_read_well(clock):
    progress = Progress("evaluate", 10, clock=clock)
    assert math.isnan(progress.eta_s())
    assert progress.line() == "evaluate: step 0/10 (0%), 0.00 steps/s, ETA ?"
    assert [format_duration(s) for s in (0.4, 59.6, 65, 3600 * 2 + 7 * 60)] == [
        "0 s",
        "1 min 00 s",
        "1 min 05 s",
        "2 h 07 min",
    ]
    assert [format_rate(r) for r in (0.123, 12.54, 1234.5)] == ["0.12", "12.5", "1,234"]


def test_pretraining_reports_through_the_helper(corpus, make_configs, tmp_path, caplog):
    """Each loss report of pretraining is one progress line with rate, ETA and the loss."""
    from karpa_models.pretraining import pretrain

    model_cfg, train_cfg = make_configs(steps=4, log_every=2, checkpoint_every=4)
    with caplog.at_level(logging.INFO, logger="karpa_models.engine"):
        pretrain(corpus, model_cfg, train_cfg, tmp_path / "run")
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "karpa_models.engine" and r.getMessage().startswith("pretrain: step")
    ]
    assert [line.split(" (")[0] for line in lines] == ["pretrain: step 2/4", "pretrain: step 4/4"]
    assert all(" steps/s, ETA " in line and ", loss " in line for line in lines), lines
    assert lines[-1].startswith("pretrain: step 4/4 (100%)") and "ETA 0 s" in lines[-1]
