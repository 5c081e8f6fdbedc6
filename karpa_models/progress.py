"""Progress of a long loop as periodic log lines: count, percentage, rate and ETA.

    intent/pretrained fine-tune: step 400/1,200 (33%), 12.5 steps/s, ETA 64 s, val macro_f1 0.812

Lines go through `logging`, so a Prefect run shows them in its logs (karpa's loggers are
among PREFECT_LOGGING_EXTRA_LOGGERS) and a terminal shows them too. A line is written when
`every_s` seconds have passed since the last one, every `every` items when given, and at
the end; a loop that finishes within `every_s` and has no `every` stays quiet. Standard
library only: karpa.evaluation uses it without importing torch.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

_logger = logging.getLogger(__name__)


def format_duration(seconds: float) -> str:
    """12 s, 4 min 05 s, 2 h 07 min; '?' when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def format_rate(rate: float) -> str:
    """Three significant figures at most, with thousands separators: 0.52, 12.5, 1,234."""
    if rate >= 100:
        return f"{rate:,.0f}"
    if rate >= 1:
        return f"{rate:.1f}"
    return f"{rate:.2f}"


class Progress:
    """Log lines for `total` items of work (steps, resamples, fits) done one by one.

    what: names the work at the start of each line ("intent/pretrained fine-tune").
    start: items already done when the loop starts (a resumed run); the rate counts only
    what this call does. detail: a short note appended to every line until replaced
    (the last validation metric, the last loss).
    """

    def __init__(
        self,
        what: str,
        total: int,
        unit: str = "step",
        *,
        start: int = 0,
        every_s: float = 20.0,
        every: int | None = None,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what, self.total, self.unit = what, max(0, int(total)), unit
        self.every_s, self.every = every_s, every
        self.detail: str | None = None
        self._logger = logger or _logger
        self._clock = clock
        self._start, self._started = start, clock()
        self._done = start
        self._last_line = self._started
        self._last_done = start

    def update(self, done: int | None = None, detail: str | None = None) -> bool:
        """`done` items so far (default: one more than before); logs a line when one is
        due. Returns whether it did."""
        self._done = self._done + 1 if done is None else int(done)
        if detail is not None:
            self.detail = detail
        now = self._clock()
        # The last item closes with a line only where lines were written before, so a
        # short loop called many times (a bootstrap) stays quiet.
        shown = self.every is not None or self._last_done > self._start
        due = (
            (self._done >= self.total and shown)
            or now - self._last_line >= self.every_s
            or (self.every is not None and self._done - self._last_done >= self.every)
        )
        if due and self._done > self._last_done:
            self._write(now)
            return True
        return False

    def log(self, done: int | None = None, detail: str | None = None) -> str:
        """Write a line now, whatever the interval (for loops with their own schedule)."""
        if done is not None:
            self._done = int(done)
        if detail is not None:
            self.detail = detail
        return self._write(self._clock())

    def rate(self) -> float:
        """Items per second since the start (0.0 before any time has passed)."""
        elapsed = self._clock() - self._started
        return (self._done - self._start) / elapsed if elapsed > 0 else 0.0

    def eta_s(self) -> float:
        """Seconds left at the rate so far (NaN while it is unknown)."""
        rate = self.rate()
        return max(0, self.total - self._done) / rate if rate > 0 else math.nan

    def line(self) -> str:
        pct = 100.0 * self._done / self.total if self.total else 100.0
        parts = [
            f"{self.what}: {self.unit} {self._done:,}/{self.total:,} ({pct:.0f}%)",
            f"{format_rate(self.rate())} {self.unit}s/s",
            f"ETA {format_duration(self.eta_s())}",
        ]
        if self.detail:
            parts.append(self.detail)
        return ", ".join(parts)

    def _write(self, now: float) -> str:
        text = self.line()
        self._logger.info("%s", text)
        self._last_line, self._last_done = now, self._done
        return text
