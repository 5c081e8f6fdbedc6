"""One run at a time on one home.

Two `karpa run`s on the same home would race on the embedded databases' migrations and on
the store's temporary files. The second one waits for the first, and says who holds the
home. The lock is an `flock` on `<home>/run.lock`: the kernel releases it when its holder
exits, however it exits (`kill -9` included), so a crashed run never blocks the next one;
the file's content (pid, start time, command) is only there to be read by a person.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from karpa.home import Home

log = logging.getLogger(__name__)

LOCK_FILE = "run.lock"


def holder(home: Home) -> dict | None:
    """What the lock file says about the run that holds (or last held) the home."""
    try:
        return json.loads((home.root / LOCK_FILE).read_text() or "null")
    except (OSError, ValueError):
        return None


@contextmanager
def exclusive_run(home: Home) -> Iterator[None]:
    """Hold the home for one run; wait, with a line saying for whom, while another holds it."""
    fd = os.open(home.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = holder(home) or {}
            log.warning(
                "another karpa run holds the home %s (pid %s, started %s: %s); waiting for it "
                "to finish",
                home.root,
                other.get("pid", "?"),
                other.get("started", "?"),
                other.get("command", "?"),
            )
            waited = time.monotonic()
            fcntl.flock(fd, fcntl.LOCK_EX)
            log.info("the home is free after %.0f s; starting", time.monotonic() - waited)
        os.ftruncate(fd, 0)
        os.pwrite(
            fd,
            json.dumps(
                {
                    "pid": os.getpid(),
                    "started": datetime.now(UTC).isoformat(timespec="seconds"),
                    "command": " ".join(["karpa", *sys.argv[1:]]),
                }
            ).encode(),
            0,
        )
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
