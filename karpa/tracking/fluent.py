"""MLflow's fluent API pointed at one store for one block, and nothing of it left after.

`mlflow.set_tracking_uri`/`set_registry_uri` keep the URI in two places: the
MLFLOW_TRACKING_URI/MLFLOW_REGISTRY_URI environment variables, which karpa reads as "use a
team server", and module globals, which a later `MlflowClient(tracking_uri=other)` of this
process takes as its registry. Both are put back when the block ends, so one process can
talk to a local store and a team server in turn (as the tests, the CLI and the flows do).

Some MLflow calls resolve a URI through the globals even when a client names its store: a
local registry store's `create_model_version("models:/m-<id>")` looks the logged model up
with a bare `MlflowClient()` (a TODO in MLflow's SQLAlchemy store), and downloading
`models:/<name>/<version>` asks the global registry. Such calls run inside
`tracking_uri(store)` (Registry.register), or take the version's storage location instead
of its `models:/` URI (karpa.tracking.foundation).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import mlflow
from mlflow.tracking._model_registry import utils as registry_utils
from mlflow.tracking._tracking_service import utils as tracking_utils

from karpa.environment import environment_kept


@contextmanager
def tracking_uri(uri: str) -> Iterator[None]:
    """Within the block MLflow's fluent API and bare clients use `uri` for tracking and
    registry; after it, both are as they were (MLflow has no public getter for the unresolved
    values, hence the module attributes)."""
    before = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    with environment_kept(("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")):
        try:
            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(uri)
            yield
        finally:
            mlflow.set_tracking_uri(before[0])
            mlflow.set_registry_uri(before[1])
