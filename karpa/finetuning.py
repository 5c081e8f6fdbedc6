"""The finetune stage for one application: fine-tune from the foundation, evaluate against
the ablation and the baselines on the same split, cache the result by its inputs."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from karpa.config import FinetuneConfig
from karpa.finetuning_joint import TEXT_APPS, run_joint
from karpa.fingerprint import combine, digest_json
from karpa.manifests import AlignManifest, AppManifest, FoundationManifest
from karpa.store import Store, write_manifest

log = logging.getLogger(__name__)

FINETUNE_VERSION = "2"  # 2: the manifest names its test sample
MetricsCallback = Callable[[dict[str, float], int], None]


def app_config(app: str, cfg: FinetuneConfig, preset: str) -> Any:
    """The application's settings dataclass for this run (checked when the run was
    loaded): its settings, the foundation's preset and finetune.device unless set."""
    return getattr(cfg, app).build(preset=preset, device=cfg.device)


def test_cap(settings: Any) -> int | None:
    """The application's cap on test examples (users, for the recommender); None: all."""
    return getattr(settings, "max_test_users", getattr(settings, "max_test_examples", None))


def run_application(
    app: str,
    views: AlignManifest,
    foundation: FoundationManifest,
    cfg: FinetuneConfig,
    store: Store,
    on_metrics: MetricsCallback | None = None,
) -> AppManifest:
    from karpa.applications.intent import run_intent
    from karpa.applications.recommendation import run_recommendation
    from karpa.applications.sentiment import run_sentiment

    settings = app_config(app, cfg, foundation.preset)
    as_dict = {k: v for k, v in dataclasses.asdict(settings).items() if k != "device"}
    # The joint multi-task model is one more candidate (trained here unless a previous
    # step or application already stored it); its key is part of this application's.
    joint = run_joint(views, foundation, cfg, store, on_metrics) if app in TEXT_APPS else None
    if joint is not None and app not in joint.applications:
        joint = None
    key = combine(
        [FINETUNE_VERSION, app, views.fingerprint, foundation.fingerprint, digest_json(as_dict)]
        + ([joint.fingerprint] if joint is not None else [])
    )
    kind = f"apps/{app}"
    if store.has(kind, key):
        log.info("%s: views, foundation and settings unchanged (%s), reusing", app, key)
        return AppManifest(**store.manifest(kind, key), skipped=True)
    runner = {
        "intent": run_intent,
        "sentiment": run_sentiment,
        "recommendation": run_recommendation,
    }[app]
    with store.writing(kind, key) as tmp:
        extra = {"joint_dir": Path(joint.path)} if joint is not None else {}
        report = runner(
            Path(views.path),
            Path(foundation.checkpoint),
            settings,
            tmp,
            on_metrics=on_metrics,
            **extra,
        )
        final = store.path(kind, key)
        # Paths inside the report point into the temporary folder until it is renamed.
        body = json.loads(json.dumps(report.to_dict()).replace(str(tmp), str(final)))
        manifest = {
            "application": app,
            "fingerprint": key,
            "path": str(final),
            "model_dir": str(final / Path(report.artifacts["model_dir"]).relative_to(tmp)),
            "headline": body["headline"],
            "metrics": report.flat_metrics(),
            "pretraining_gain": body.get("pretraining_gain"),
            "report": str(final / "report.json"),
            "test_sample": {"max_examples": test_cap(settings), "seed": settings.seed},
            "privacy": body.get("privacy"),
        }
        (tmp / "report.json").write_text(json.dumps(body, indent=2, sort_keys=True))
        write_manifest(tmp, manifest)
    return AppManifest(**manifest)
