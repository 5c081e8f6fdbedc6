"""The data stages every pipeline flow starts with: sources -> ingest -> validate -> align.

The retrain flow (up to its `until`) and the search flow (always through align) run them
the same way, with the same tasks: one ingest per table submitted side by side, then one
validate and one align, each recorded as a child of the pipeline's MLflow run. An
unchanged stage is reused by the tasks themselves (content fingerprints).
"""

from __future__ import annotations

from dataclasses import dataclass

from karpa.config import STAGES, RunConfig, Stage
from karpa.home import Home
from karpa.manifests import AlignManifest, PipelineRun, TableManifest, ValidateManifest
from tasks.align import align_views
from tasks.ingest import ingest
from tasks.tracking import log_ingest
from tasks.validate import validate_tables


@dataclass(frozen=True)
class DataStages:
    """What the data stages handed on: `validated` and `views` are None when the run
    stopped before that stage."""

    tables: list[TableManifest]
    validated: ValidateManifest | None
    views: AlignManifest | None

    def summary(self) -> dict:
        """The flow summary's entries for the stages that ran."""
        out: dict = {"tables": [t.model_dump() for t in self.tables]}
        if self.validated is not None:
            out["validate"] = self.validated.counts
        if self.views is not None:
            out["align"] = self.views.views
        return out


def data_stages(
    run: PipelineRun, cfg: RunConfig, home: Home, through: Stage = "align"
) -> DataStages:
    """Ingest every source (the tables side by side), then validate and align, stopping
    after `through` when that comes before align."""
    last = STAGES.index(through)
    futures = [
        ingest.submit(
            home,
            table,
            source,
            cfg.data.root,
            cfg.ingest,
            cfg.validate_.contracts,
            cfg.validate_.scrub_pii,
        )
        for table, source in cfg.data.sources.items()
    ]
    tables = [f.result() for f in futures]
    log_ingest(run, tables)
    validated = views = None
    if last >= STAGES.index("validate"):
        validated = validate_tables(run, {t.table: t for t in tables}, cfg.validate_)
    if last >= STAGES.index("align"):
        views = align_views(run, validated.accepted, cfg.align, cfg.data.sources)
    return DataStages(tables=tables, validated=validated, views=views)
