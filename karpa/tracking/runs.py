"""MLflow runs: the parent run of a pipeline run and a child run per stage.

Everything is done through an explicit `MlflowClient` and explicit run ids: MLflow's
"active run" is per thread, and Prefect runs tasks on other threads (STACK.md). Parameters
are logged once per run, metrics in batches with an explicit step.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from karpa.home import Home
from karpa.manifests import TableManifest
from karpa.tracking.guard import GuardedClient

_UNSAFE = re.compile(r"[^\w\-. :/]")
BATCH = 100  # MLflow accepts at most 100 params / 1000 metrics per log_batch call
PARAM_VALUE_MAX = 6000


def is_tracking_server(tracking_uri: str) -> bool:
    """Whether MLflow is reached over HTTP (a tracking server) rather than a store file."""
    return tracking_uri.startswith(("http://", "https://"))


def run_page_url(ui_url: str, experiment_id: str, run_id: str) -> str:
    """The MLflow UI's page of one run (the UI's route, written in this one place)."""
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def fail_abandoned_runs(home: Home, reason: str) -> list[str]:
    """Mark FAILED, with `reason` as their `karpa.failure` tag, the runs of the home's own
    MLflow store that are still RUNNING. Called while holding the home's run lock, when no
    run of this home can be alive: they belong to a process that died (`kill -9`, a power
    cut). A team tracking server (`MLFLOW_TRACKING_URI`) is left alone: runs of other
    machines live there."""
    if home.tracking_uri != f"sqlite:///{home.mlflow_db}" or not home.mlflow_db.exists():
        return []
    client = GuardedClient(MlflowClient(tracking_uri=home.tracking_uri))
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    abandoned = client.search_runs(
        experiments, filter_string="attributes.status = 'RUNNING'", max_results=10_000
    )
    for run in abandoned:
        client.set_tag(run.info.run_id, "karpa.failure", reason)
        client.set_terminated(run.info.run_id, "FAILED")
    return [run.info.run_id for run in abandoned]


class Tracker:
    """MLflow runs of one pipeline: a parent run per pipeline run, a child per stage."""

    def __init__(self, home: Home, experiment: str) -> None:
        self.home = home
        self.client = GuardedClient(MlflowClient(tracking_uri=home.tracking_uri))
        self.experiment_id = self._experiment(experiment)

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        if is_tracking_server(self.home.tracking_uri):
            # The server decides where artifacts go (`karpa deploy`: `mlflow-artifacts:`,
            # proxied by the server): a client-side folder would put them on this machine.
            return self.client.create_experiment(name)
        # An explicit artifact location keeps artifacts inside the home; without it MLflow
        # writes to ./mlruns of whatever the working directory happens to be.
        location = (self.home.artifacts / name).as_uri()
        return self.client.create_experiment(name, artifact_location=location)

    # -- runs ---------------------------------------------------------------------------
    def start_run(
        self, name: str, parent_id: str | None = None, tags: Mapping[str, str] | None = None
    ) -> str:
        all_tags = {MLFLOW_RUN_NAME: name, **(tags or {})}
        if parent_id:
            all_tags[MLFLOW_PARENT_RUN_ID] = parent_id
        run = self.client.create_run(self.experiment_id, tags=all_tags, run_name=name)
        return run.info.run_id

    def end_run(self, run_id: str, ok: bool = True) -> None:
        self.client.set_terminated(run_id, "FINISHED" if ok else "FAILED")

    def run_url(self, run_id: str, ui_url: str) -> str:
        return run_page_url(ui_url, self.experiment_id, run_id)

    def get_run(self, run_id: str):
        return self.client.get_run(run_id)

    def pipeline_metrics(self, flow_run_id: str) -> tuple[str | None, dict[str, dict]]:
        """The parent run tagged with a Prefect flow run (`prefect.flow_run_id`), and each
        child's metrics by stage ("finetune-intent" for one child per application)."""
        exp = [self.experiment_id]
        parents = self.client.search_runs(
            exp, f"tags.`prefect.flow_run_id` = '{flow_run_id}'", max_results=1
        )
        if not parents:
            return None, {}
        parent = parents[0].info.run_id
        metrics: dict[str, dict[str, float]] = {}
        for child in self.client.search_runs(exp, f"tags.mlflow.parentRunId = '{parent}'"):
            stage = child.data.tags.get("karpa.stage") or child.info.run_name
            if app := child.data.tags.get("karpa.application"):
                stage = f"{stage}-{app}"  # one child per application: keep them apart
            metrics.setdefault(stage, {}).update(child.data.metrics)
        return parent, metrics

    # -- logging ------------------------------------------------------------------------
    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        items = [Param(k, str(v)[:PARAM_VALUE_MAX]) for k, v in sorted(params.items())]
        for i in range(0, len(items), BATCH):
            self.client.log_batch(run_id, params=items[i : i + BATCH])

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        items = [Metric(metric_name(k), float(v), now, step) for k, v in sorted(metrics.items())]
        for i in range(0, len(items), 1000):
            self.client.log_batch(run_id, metrics=items[i : i + 1000])

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    def log_dict(self, run_id: str, value: Any, artifact_file: str) -> None:
        self.client.log_dict(run_id, value, artifact_file)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, text, artifact_file)

    def log_tables(self, run_id: str, tables: list[TableManifest], context: str) -> None:
        """Each table as an MLflow input dataset (with its fingerprint as digest), plus its
        rows and bytes as metrics."""
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset

        datasets = []
        with warnings.catch_warnings():
            # The local-path source type is registered twice inside MLflow; harmless.
            warnings.simplefilter("ignore", UserWarning)
            for t in tables:
                source = resolve_dataset_source(t.path)
                entity = MetaDataset(source=source, name=t.table, digest=t.fingerprint)
                datasets.append(
                    DatasetInput(
                        entity._to_mlflow_entity(),
                        tags=[InputTag("mlflow.data.context", context)],
                    )
                )
        self.client.log_inputs(run_id, datasets=datasets)
        metrics: dict[str, float] = {}
        for t in tables:
            metrics[f"{t.table}.rows"] = t.rows
            metrics[f"{t.table}.bytes"] = t.bytes
        self.log_metrics(run_id, metrics)
        self.set_tags(run_id, {f"{t.table}.fingerprint": t.fingerprint for t in tables})

    def log_config(self, run_id: str, flat: Mapping[str, str], resolved: dict[str, Any]) -> None:
        """The resolved config: flattened as parameters, whole as a JSON artifact."""
        self.log_params(run_id, flat)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "config.json"
            path.write_text(json.dumps(resolved, indent=2, sort_keys=True))
            self.log_artifact(run_id, path)


def metric_name(key: str) -> str:
    """A metric name MLflow accepts: `recall@10` becomes `recall_at_10`."""
    return _UNSAFE.sub("_", key.replace("@", "_at_"))
