"""Only transient failures are retried: a deterministic stop (a KarpaError, a programming
error) fails once, with its sentence, instead of twice for one cause."""

from __future__ import annotations

import pytest
from prefect import flow, task

from karpa.errors import ConfigError, StageStop
from tasks.retry import is_transient, transient_only


@pytest.mark.parametrize(
    "exc", [ConfigError("x"), StageStop("x"), ValueError("x"), KeyError("x"), TypeError("x")]
)
def test_deterministic_failures_are_not_transient(exc):
    assert not is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        OSError("disk"),
        ConnectionError("refused"),
        TimeoutError("slow"),
        RuntimeError("database is locked"),
    ],
)
def test_io_and_runtime_failures_are_transient(exc):
    assert is_transient(exc)


def _attempts(exc: Exception) -> int:
    calls: list[int] = []

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=transient_only)
    def failing() -> None:
        calls.append(1)
        raise exc

    @flow
    def run() -> None:
        failing()

    with pytest.raises(type(exc)):
        run()
    return len(calls)


def test_a_karpa_error_fails_once_and_a_transient_one_is_retried(prefect_api):
    assert _attempts(StageStop("messages: rule text_not_empty quarantined 40% of rows")) == 1
    assert _attempts(OSError("connection reset")) == 3
