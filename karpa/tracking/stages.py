"""What the pretrain and finetune stages record in their MLflow child runs: summary
metrics, tags, artifacts and the pyfunc model that serves raw inputs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from karpa.manifests import AppManifest, FoundationManifest
from karpa.pretraining.verdict import checks_metrics
from karpa.tracking.runs import Tracker

if TYPE_CHECKING:
    import pandas as pd

EVALUATION_FILES = (".png", ".html", ".md", ".json")


def foundation_metrics(m: FoundationManifest) -> dict[str, float]:
    """Retrieval figures, first and final losses, throughput and steps of a pretraining."""
    out = {f"retrieval.{k.replace('/', '.')}": v for k, v in m.retrieval.items()}
    out.update({f"final.{k}": v for k, v in m.final_losses.items()})
    out.update({f"first.{k}": v for k, v in m.first_losses.items()})
    out.update({"samples_per_s": m.samples_per_s, "tokens_per_s": m.tokens_per_s, "steps": m.steps})
    if m.checks:
        out.update(
            checks_metrics(
                m.checks,
                pretrained_start=bool(m.checks.get("pretrained_start")),
                cooccurrence_start=bool(m.checks.get("cooccurrence_start")),
            )
        )
    return out


def record_foundation(
    t: Tracker, run_id: str, parent_id: str, m: FoundationManifest, example: pd.DataFrame
) -> str:
    """The pretrain child run's figures, tokenizer, manifest and pyfunc model; the model's
    URI, also tagged on the parent run."""
    from karpa.tracking.models import FoundationModel, log_pyfunc

    t.log_metrics(run_id, foundation_metrics(m), step=m.steps)
    if m.checks.get("rule"):
        # The rule that chose the checkpoint, beside the curves it read.
        t.log_params(run_id, {f"checks.{k}": v for k, v in m.checks["rule"].items()})
    t.set_tags(
        run_id,
        {
            "karpa.foundation": m.fingerprint,
            "karpa.preset": m.preset,
            "karpa.pretrain.skipped": str(m.skipped),
        },
    )
    t.log_artifact(run_id, Path(m.path) / "tokenizer.json", "foundation")
    t.log_dict(run_id, m.model_dump(), "foundation/manifest.json")
    uri = log_pyfunc(
        t.home.tracking_uri,
        run_id,
        "foundation",
        FoundationModel(),
        {"checkpoint": m.checkpoint},
        example,
    )
    t.set_tags(parent_id, {"karpa.foundation_model_uri": uri})
    return uri


def privacy_params(privacy: dict | None) -> dict[str, str]:
    """The DP fine-tune's spend and settings as parameters (its figures are also metrics:
    privacy.epsilon, privacy.delta, ...); `privacy.enabled` false for a non-private model."""
    if not privacy:
        return {"privacy.enabled": "false"}
    keys = ("epsilon", "delta", "delta_rule", "noise_multiplier", "max_grad_norm", "accountant")
    return {"privacy.enabled": "true", **{f"privacy.{k}": str(privacy.get(k)) for k in keys}}


def record_application(t: Tracker, run_id: str, m: AppManifest, example: pd.DataFrame) -> str:
    """A finetune child run's metrics, tags, evaluation files and pyfunc model; its URI."""
    from karpa.tracking.models import (
        APP_PARAMS,
        RecommenderModel,
        TextClassifierModel,
        log_pyfunc,
    )

    t.log_metrics(run_id, {k.replace("/", "."): v for k, v in m.metrics.items() if v is not None})
    t.set_tags(
        run_id,
        {"karpa.headline_metric": m.headline["metric"], "karpa.finetune.skipped": str(m.skipped)},
    )
    t.log_params(run_id, privacy_params(m.privacy))
    for path in sorted(Path(m.path).iterdir()):
        if path.is_file() and path.suffix in EVALUATION_FILES:
            t.log_artifact(run_id, path, "evaluation")
    model_class = RecommenderModel if m.application == "recommendation" else TextClassifierModel
    return log_pyfunc(
        t.home.tracking_uri,
        run_id,
        m.application,
        model_class(),
        {"model": m.model_dir},
        example,
        params=APP_PARAMS,
    )
