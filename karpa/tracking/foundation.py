"""The registry's champion foundation as a `FoundationManifest`: an on-demand fine-tune
starts from the foundation that is serving, without pretraining again.

The manifest is the one the pretrain stage logged with the champion's run. Its checkpoint
is used in place when this home still has it (the same machine); otherwise the registered
model's copy of it is downloaded once into `cache`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from karpa.errors import StageStop, first_line
from karpa.manifests import FoundationManifest
from karpa.tracking.registry import CHAMPION, Registry

MANIFEST_ARTIFACT = "foundation/manifest.json"


def champion_foundation(registry: Registry, name: str, cache: Path) -> FoundationManifest:
    """The foundation behind `name@champion`, with its checkpoint on this machine."""
    version = registry.alias_info(name, CHAMPION)
    if version is None:
        raise StageStop(
            f"finetune.foundation=champion: the registry at {registry.tracking_uri} has no "
            f"champion of {name!r}; run the whole pipeline once (`karpa run`) so the "
            "promotion gate can promote a foundation"
        )
    # By the run's artifact location, not `runs:/<id>/foundation/...`: MLflow 3 also looks
    # for such a path inside the run's logged model named "foundation", and a server whose
    # artifacts live in S3 answers that missing file with errors the client retries for
    # about four minutes (seen on the team stack's on-demand fine-tune).
    artifact_uri = (
        f"{registry.client.get_run(version.run_id).info.artifact_uri}/{MANIFEST_ARTIFACT}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=artifact_uri, dst_path=tmp, tracking_uri=registry.tracking_uri
        )
        logged = json.loads(Path(local).read_text())
    checkpoint = Path(logged["checkpoint"])
    if not checkpoint.is_file():
        folder = cache / f"{name}-v{version.version}"
        copy = folder / "artifacts" / checkpoint.name
        if not copy.is_file():
            # Only the checkpoint, found through the version's storage location and not
            # `models:/<name>/<version>`: MLflow resolves that URI with its global registry
            # URI, whatever store this registry's client names (karpa.tracking.fluent).
            stored = registry.client.get_model_version_download_uri(name, version.version)
            try:
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"{stored}/artifacts/{checkpoint.name}",
                    dst_path=str(copy.parent),
                    tracking_uri=registry.tracking_uri,
                )
            except (MlflowException, OSError) as e:
                raise StageStop(
                    f"{name} v{version.version}: could not fetch its checkpoint "
                    f"artifacts/{checkpoint.name} from the registered model "
                    f"({first_line(e)[:200]}); a model not logged by karpa's pretrain stage "
                    "has none"
                ) from e
        checkpoint = copy
    return FoundationManifest(
        **{
            **logged,
            "checkpoint": str(checkpoint),
            "model_uri": f"models:/{name}/{version.version}",
            "mlflow_run_id": version.run_id,
            "registry_version": str(version.version),
            "skipped": True,
        }
    )
