"""How a pipeline flow ends on an error: one sentence for on-call, as the run's state."""

from __future__ import annotations

import traceback

from prefect import get_run_logger
from prefect.states import Failed, State

from karpa.errors import KarpaError
from karpa.run_report import failure_sentence


def failed_state(exc: Exception) -> State:
    """The flow run's final state for `exc`: its message the one sentence saying why. A
    karpa error is logged as that sentence alone; anything else with its traceback too."""
    sentence = failure_sentence(exc)
    logger = get_run_logger()
    if isinstance(exc, KarpaError):
        logger.error("%s", sentence)
    else:
        logger.error("%s\n%s", sentence, "".join(traceback.format_exception(exc)))
    # Returning the state (instead of raising) makes its message exactly the sentence;
    # the exception travels as its data, so a direct caller still gets it raised.
    return Failed(message=sentence, data=exc)
