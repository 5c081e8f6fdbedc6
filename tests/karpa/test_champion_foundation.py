"""The champion foundation: an empty registry stops an on-demand fine-tune with one sentence
saying what to run first; on a machine without the pretrain stage's folder the checkpoint
comes from the registered model, whatever store MLflow's fluent API points at."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow.pyfunc import PythonModel

from karpa.errors import StageStop
from karpa.manifests import FoundationManifest
from karpa.tracking.fluent import tracking_uri
from karpa.tracking.foundation import champion_foundation
from karpa.tracking.models import log_pyfunc
from karpa.tracking.registry import CHAMPION, Registry
from karpa.tracking.runs import Tracker


def test_no_champion_stops_with_what_to_run_first(home):
    registry = Registry(home.tracking_uri, home.root / "audit.jsonl")
    with pytest.raises(StageStop) as stopped:
        champion_foundation(registry, "karpa-foundation", home.store / "registry")
    message = str(stopped.value)
    assert "no champion of 'karpa-foundation'" in message and home.tracking_uri in message
    assert "karpa run" in message and "\n" not in message


class _Stored(PythonModel):
    """Stands in for the foundation pyfunc: only its logged checkpoint artifact matters."""

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return model_input


def _champion(home, tmp_path, checkpoint_name: str) -> Registry:
    """A registered champion foundation whose manifest names `tmp_path/ckpt/foundation.pt`
    and whose logged model holds `checkpoint_name` (the real stage logs the same file)."""
    folder = tmp_path / "ckpt"
    folder.mkdir()
    checkpoint = folder / "foundation.pt"
    checkpoint.write_bytes(b"weights")
    logged = folder / checkpoint_name
    if logged != checkpoint:
        logged.write_bytes(b"other")
    manifest = FoundationManifest(
        fingerprint="f1",
        path=str(folder),
        checkpoint=str(checkpoint),
        steps=1,
        samples_per_s=1.0,
        tokens_per_s=1.0,
        final_losses={},
        retrieval={},
        objectives=["mlm"],
        preset="tiny",
        corpus={},
    )
    tracker = Tracker(home, "foundation-test")
    run_id = tracker.start_run("pretrain", {})
    tracker.log_dict(run_id, manifest.model_dump(), "foundation/manifest.json")
    uri = log_pyfunc(
        home.tracking_uri,
        run_id,
        "foundation",
        _Stored(),
        {"checkpoint": str(logged)},
        pd.DataFrame({"text": ["hello"]}),
    )
    registry = Registry(home.tracking_uri, home.root / "audit.jsonl")
    version = registry.register("karpa-foundation", uri, run_id, {})
    registry.move("karpa-foundation", CHAMPION, version, "test")
    checkpoint.unlink()  # another machine: the pretrain stage's folder is not here
    logged.unlink(missing_ok=True)
    return registry


def test_a_missing_checkpoint_comes_from_the_registered_model(home, tmp_path):
    registry = _champion(home, tmp_path, "foundation.pt")
    cache = tmp_path / "cache"
    # Wherever MLflow's fluent API points, the registry's own store is read.
    with tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}"):
        found = champion_foundation(registry, "karpa-foundation", cache)
    assert Path(found.checkpoint) == cache / "karpa-foundation-v1" / "artifacts" / "foundation.pt"
    assert Path(found.checkpoint).read_bytes() == b"weights"
    assert (found.registry_version, found.skipped) == ("1", True)
    assert found.model_uri == "models:/karpa-foundation/1"


def test_a_registered_model_without_the_checkpoint_stops_with_one_sentence(home, tmp_path):
    registry = _champion(home, tmp_path, "other.pt")
    with pytest.raises(StageStop) as stopped:
        champion_foundation(registry, "karpa-foundation", tmp_path / "cache")
    message = str(stopped.value)
    assert "karpa-foundation v1" in message and "artifacts/foundation.pt" in message
    assert "\n" not in message
