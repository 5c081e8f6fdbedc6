"""A flow run started by the command line, supervised: one run per home at a time, on an
embedded Prefect API started with karpa's wait, and whatever it leaves open closed when it
returns, fails or is stopped (SIGTERM included, through the watchdog)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from karpa.home import Home


@contextmanager
def supervised_run(home: Home) -> Iterator[None]:
    """Hold the home's run lock, start the embedded API, close what a killed earlier run
    left open, and close this run's leftovers however the body ends."""
    from flows.embedded import (
        close_interrupted_runs,
        recover_abandoned_runs,
        start_embedded_api,
        stop_embedded_api,
    )
    from karpa.run_lock import exclusive_run
    from karpa_cli.sigterm import watch_sigterm

    with exclusive_run(home):  # a second run on this home waits, and says for whom
        # A Prefect API that does not come up is one sentence: started here, with karpa's
        # wait, before any flow run exists.
        start_embedded_api(home)
        recover_abandoned_runs(home)

        def force_stop() -> None:
            close_interrupted_runs(home)
            stop_embedded_api()

        watch_sigterm(force_stop)
        try:
            yield
        finally:
            close_interrupted_runs(home)
