"""A SIGTERM that the flow engine lost is still honoured.

During a flow run Prefect turns SIGTERM into an exception in the main thread. An exception
raised while Python runs a garbage-collection callback is printed and dropped, and the run
then goes on as if nothing happened (seen: a SIGTERM during ingest was lost so). The
signal module's wakeup fd sees every signal that has a Python handler, whatever the
handler does: a watchdog thread reads it, and a process still alive `grace_s` after a
SIGTERM closes what it left open and ends.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable

log = logging.getLogger("karpa")


def watch_sigterm(on_timeout: Callable[[], None], grace_s: float = 30.0) -> None:
    """Arm the watchdog for this process (call from the main thread)."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def watch() -> None:
        while signal.SIGTERM not in os.read(read_end, 64):
            pass
        time.sleep(grace_s)  # the graceful path, through the flow's unwinding, had its turn
        log.warning("SIGTERM was not honoured within %.0f s: closing the runs and exiting", grace_s)
        try:
            on_timeout()
        finally:
            os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watch, name="karpa-sigterm-watchdog", daemon=True).start()
