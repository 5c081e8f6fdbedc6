"""The small manifests that travel between stages: paths, fingerprints, row counts.

Never DataFrames, tensors or models (DESIGN.md): a manifest is cheap to pass through
Prefect, to print and to log, and it says everything a later stage needs to find its input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from karpa.errors import StageStop
from karpa.home import Home


class PipelineRun(BaseModel):
    """Where one pipeline run writes: its home folder (resolved once, by the flow), its
    MLflow experiment and parent run. Every stage that records something receives it."""

    model_config = ConfigDict(frozen=True)

    home: Path
    experiment: str
    mlflow_run_id: str

    @property
    def folders(self) -> Home:
        return Home(self.home)


class TableManifest(BaseModel):
    """One canonical table in the store."""

    model_config = ConfigDict(frozen=True)

    table: str
    fingerprint: str
    path: str
    rows: int
    bytes: int
    skipped: bool = False
    sources: list[str] = []
    pii: dict[str, dict[str, int]] = {}  # column -> kind -> replacements made at ingestion


class AlignManifest(BaseModel):
    """The aligned views: where they are, how many rows each, and the coverage figures."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    path: str
    views: dict[str, int]
    coverage: dict[str, float]
    transductive: bool = False
    stop: str | None = None
    skipped: bool = False


class ValidateManifest(BaseModel):
    """Accepted tables (inputs of align) and what validation found."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    path: str
    accepted: dict[str, TableManifest]
    counts: dict[str, dict[str, int]]  # table -> rows_in / rows_accepted / rows_quarantined
    pii: dict[str, dict[str, int]]  # table -> kind -> replacements
    pii_columns: dict[str, dict[str, dict[str, int]]] = {}  # table -> column -> kind -> n
    warnings: list[str]
    drifted: list[str]
    report: str
    summary_markdown: str
    stop: str | None = None  # the one sentence saying why the run must stop, if it must
    skipped: bool = False


def raise_if_stopped(manifest: ValidateManifest | AlignManifest) -> None:
    """Stop the run with the stage's sentence. Stages write their reports first and return
    the sentence, so the caller can log the evidence before the run fails."""
    if manifest.stop:
        raise StageStop(manifest.stop)


class FoundationManifest(BaseModel):
    """A pretrained foundation checkpoint and what was measured on it."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    path: str
    checkpoint: str
    steps: int
    resumed_from_step: int = 0
    samples_per_s: float
    tokens_per_s: float
    first_losses: dict[str, float] = {}  # averaged over the first logging window
    final_losses: dict[str, float]
    retrieval: dict[str, float]
    objectives: list[str]
    preset: str
    corpus: dict[str, int]
    # The downstream checks and the checkpoint they kept (karpa_models.selection), with a
    # one-sentence verdict under "sentence"; empty when checks were off.
    checks: dict[str, Any] = {}
    model_uri: str | None = None  # the MLflow pyfunc model, once logged
    mlflow_run_id: str | None = None
    registry_version: str | None = None  # set when it came from the registry (the champion)
    skipped: bool = False


class HeldOutSample(BaseModel):
    """Which test examples an application was evaluated on: the cap (None: all) and the
    seed of the sample. The gate judges the model on the same ones."""

    model_config = ConfigDict(frozen=True)

    max_examples: int | None
    seed: int


class AppManifest(BaseModel):
    """One fine-tuned and evaluated application."""

    model_config = ConfigDict(frozen=True)

    application: str
    fingerprint: str
    path: str
    model_dir: str
    headline: dict
    metrics: dict[str, float]
    pretraining_gain: dict | None = None
    report: str
    test_sample: HeldOutSample
    model_uri: str | None = None
    mlflow_run_id: str | None = None
    skipped: bool = False
    privacy: dict | None = None  # a DP fine-tune's spend (epsilon, delta, ...); None: not private


class JointManifest(BaseModel):
    """The joint multi-task fine-tune of the text applications: one folder with a saved
    classifier per application (its view of the shared encoder) and multitask.json."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    path: str
    applications: list[str]
    sampling: str
    training: dict[str, dict]  # app -> steps, task batches, best validation metric, ...
    mlflow_run_id: str | None = None
    skipped: bool = False
