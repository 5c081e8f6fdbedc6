"""The batch-scoring flow: wiring only."""

from __future__ import annotations

from typing import Literal

from prefect import flow
from pydantic import BaseModel, ConfigDict, Field

from karpa.home import resolve_home
from tasks.score import score as score_task


class ScoreParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    application: Literal["intent", "sentiment", "recommend"] = Field(
        description="Which champion answers: intent or sentiment (a `text` column), or "
        "recommend (a `user_id` column)."
    )
    input: str = Field(description="CSV, JSONL or Parquet file of raw inputs.")
    output: str = Field(description="Where to write the scored rows (Parquet).")
    alias: Literal["champion", "challenger"] = "champion"


@flow(name="karpa-score")
def score(params: ScoreParams) -> dict:
    home = resolve_home()  # once, here: the task takes it as an argument
    return score_task(home, params.application, params.input, params.output, params.alias)
