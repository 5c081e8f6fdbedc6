"""Typed flow parameters: the Prefect UI renders them as a form and refuses bad values."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RetrainParams(BaseModel):
    """What a person may change when starting a retrain."""

    model_config = ConfigDict(extra="forbid")

    config: str = Field(
        "configs/demo.yaml", description="Run preset (YAML), relative to the project folder."
    )
    overrides: list[str] = Field(
        default_factory=list,
        description="KEY=VALUE overrides of the preset, e.g. ingest.batch_rows=50000.",
    )
    data: str | None = Field(
        None, description="Folder the sources are read from (overrides data.root)."
    )
