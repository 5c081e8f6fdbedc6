"""A SIGTERM never cuts a tracking call in half: it is held until the call returns, then
reaches the handler it was meant for (which may stop the run, as Prefect's does)."""

from __future__ import annotations

import os
import signal

import pytest

from karpa.tracking.guard import GuardedClient


class Stopped(BaseException):
    pass


class Store:
    """A stand-in client whose write is interrupted half-way by a SIGTERM."""

    def __init__(self) -> None:
        self.rows: list[str] = []

    def log_batch(self, run_id: str) -> str:
        self.rows.append(f"{run_id}:begin")
        os.kill(os.getpid(), signal.SIGTERM)  # arrives inside the call
        self.rows.append(f"{run_id}:commit")
        return "done"


@pytest.fixture
def stopping_handler():
    def stop(signum, frame):
        raise Stopped(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_a_sigterm_inside_a_call_is_delivered_after_it(stopping_handler):
    store = Store()
    with pytest.raises(Stopped):
        GuardedClient(store).log_batch("r1")
    assert store.rows == ["r1:begin", "r1:commit"]  # the call finished first
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # the handler is back


def test_unguarded_the_same_call_is_cut_in_half(stopping_handler):
    store = Store()
    with pytest.raises(Stopped):
        store.log_batch("r1")
    assert store.rows == ["r1:begin"]


def test_plain_attributes_pass_through():
    store = Store()
    assert GuardedClient(store).rows is store.rows
