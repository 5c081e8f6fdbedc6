"""Which task failures earn a retry: transient ones (a network or disk hiccup, a busy
database, a server that did not answer), not deterministic ones, which fail the same way
every time and would only leave a second FAILED run behind for one cause: a KarpaError
(bad input, a contract that stops the run, a bad config value) or a programming error."""

from __future__ import annotations

from typing import Any

from karpa.errors import KarpaError

DETERMINISTIC: tuple[type[BaseException], ...] = (
    KarpaError,
    ArithmeticError,
    AssertionError,
    AttributeError,
    ImportError,
    LookupError,
    NameError,
    TypeError,
    ValueError,
)


def is_transient(exc: BaseException) -> bool:
    return not isinstance(exc, DETERMINISTIC)


def transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's `retry_condition_fn`: go on to the task's retry policy only when the
    failure may pass."""
    try:
        state.result()
    except Exception as exc:
        return is_transient(exc)
    return True
