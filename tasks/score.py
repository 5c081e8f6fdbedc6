"""The batch-scoring task: one call of the pure scorer (karpa.scoring)."""

from __future__ import annotations

from prefect import task

from karpa.home import Home
from karpa.scoring import score_file
from tasks.retry import transient_only


@task(
    retries=1,
    retry_delay_seconds=2,
    retry_condition_fn=transient_only,
    task_run_name="score-{application}",
)
def score(home: Home, application: str, source: str, output: str, alias: str = "champion") -> dict:
    """The output is replaced atomically, so a retry after a failed read or write is safe."""
    return score_file(home, application, source, output, alias)
