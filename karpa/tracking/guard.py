"""Tracking calls that a SIGTERM cannot cut in half.

A SIGTERM is turned into an exception in the main thread (by Prefect during a flow run,
by the CLI otherwise). Raised in the middle of an MLflow call on the home's SQLite store,
it leaves that call's transaction open and its lock held for the rest of the process: the
run could then not mark its own MLflow runs FAILED (seen: `database is locked` after a
SIGTERM arrived inside `log_batch`). So every MLflow client call in the main thread holds a
SIGTERM until it returns, then lets it go on to the handler it was meant for.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def sigterm_deferred() -> Iterator[None]:
    """Hold a SIGTERM that arrives inside the block; deliver it when the block ends. Only
    the main thread runs Python signal handlers, so other threads need nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if held:  # now, to the handler it was meant for, outside the tracking call
            os.kill(os.getpid(), signal.SIGTERM)


class GuardedClient:
    """An MLflow client whose every method runs under `sigterm_deferred`."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            with sigterm_deferred():
                return attr(*args, **kwargs)

        return call
