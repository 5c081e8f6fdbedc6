"""The data stages every pipeline flow starts with: sources -> ingest -> validate -> align.

The retrain flow (up to its `until`) and the search flow (always through align) run them
the same way, with the same tasks: one ingest per table submitted side by side, then one
validate and one align, each recorded as a child of the pipeline's MLflow run. An
unchanged stage is reused by the tasks themselves (content fingerprints).

With `engine: dask` the same stages run as a subflow whose task runner is Prefect's
`prefect-dask` one: each table's ingestion and each validation partition is a task run
executed by a Dask worker; the flow itself, tracking and the combining steps stay in this
process. The cluster is an existing scheduler (`engine_address`) or a local one that
lives exactly as long as the stages.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow
from prefect.client.orchestration import get_client

from karpa.cluster import dask_cluster
from karpa.config import STAGES, RunConfig, Stage
from karpa.config_engine import DaskConfig
from karpa.home import Home
from karpa.manifests import AlignManifest, PipelineRun, TableManifest, ValidateManifest
from tasks.align import align_views
from tasks.ingest import ingest
from tasks.tracking import log_ingest
from tasks.validate import validate_partitions, validate_tables


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
    after `through` when that comes before align. With `engine: dask` they run on a Dask
    cluster (flows/data_stages_dask.py), with the same results."""
    if cfg.engine == "dask":
        return dask_data_stages(run, cfg, home, through)
    return run_stages(run, cfg, home, through, partitions=None)


def run_stages(
    run: PipelineRun, cfg: RunConfig, home: Home, through: Stage, partitions: DaskConfig | None
) -> DataStages:
    """The stages on the current flow's task runner; with `partitions`, validation is
    one task run per partition of its `partition_rows` rows and `partition_bytes`."""
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
        by_name = {t.table: t for t in tables}
        if partitions is None:
            validated = validate_tables(run, by_name, cfg.validate_)
        else:
            validated = validate_partitions(
                run, by_name, cfg.validate_, partitions.partition_rows, partitions.partition_bytes
            )
    if last >= STAGES.index("align"):
        views = align_views(run, validated.accepted, cfg.align, cfg.data.sources)
    return DataStages(tables=tables, validated=validated, views=views)


def _worker_env() -> dict[str, str]:
    # Local workers report their task runs to this run's Prefect API (the embedded one
    # included); without it each worker would start a temporary API of its own.
    with get_client(sync_client=True) as client:
        return {"PREFECT_API_URL": str(client.api_url).rstrip("/")}


@flow(name="karpa-data-stages-dask", validate_parameters=False)
def data_stages_on_dask(run: PipelineRun, cfg: RunConfig, home: Home, through: Stage) -> DataStages:
    """ingest -> validate (per partition) -> align, task runs on the Dask workers."""
    return run_stages(run, cfg, home, through, partitions=cfg.dask)


def dask_data_stages(run: PipelineRun, cfg: RunConfig, home: Home, through: Stage) -> DataStages:
    """The data stages as a subflow whose task runner is the cluster's."""
    from prefect_dask import DaskTaskRunner

    with dask_cluster(cfg, env=_worker_env()) as address:
        runner = DaskTaskRunner(address=address)
        return data_stages_on_dask.with_options(task_runner=runner)(run, cfg, home, through)
