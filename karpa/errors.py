"""The one exception type a user is meant to read.

A `KarpaError` carries a single sentence that names the file, the column or field and the
rule that was broken. The CLI prints it on one line without a traceback; Prefect shows it
as the failed run's state message.
"""

from __future__ import annotations


class KarpaError(Exception):
    """A problem with the user's input or setup, explained in one sentence."""


class SourceError(KarpaError):
    """A data source that cannot be read: missing, wrong format, missing column, bad bytes."""


class ConfigError(KarpaError):
    """A configuration file or override that does not fit the typed configuration."""


class StageStop(KarpaError):
    """A stage decided the run must stop (for example too many quarantined rows)."""


class ServerStartError(KarpaError):
    """A server karpa started (or needs) did not come up in time, or exited first."""


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none): what goes
    into a one-sentence `KarpaError` about a failure in a library karpa called."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
