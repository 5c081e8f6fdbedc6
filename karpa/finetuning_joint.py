"""The joint multi-task fine-tune of the text applications, as a stage: trained once per
set of inputs (views, foundation, the text applications' settings, `finetune.multitask`),
kept in the store under that key, and read by each text application as one more
candidate for its main model (karpa/applications/multitask.py)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from karpa.config import FinetuneConfig
from karpa.fingerprint import combine, digest_json
from karpa.manifests import AlignManifest, FoundationManifest, JointManifest
from karpa.store import Store, write_manifest

log = logging.getLogger(__name__)

JOINT_VERSION = "1"
KIND = "multitask"
TEXT_APPS = ("intent", "sentiment")  # in this order: the joint recipe is the first's
MetricsCallback = Callable[[dict[str, float], int], None]


def joint_settings(cfg: FinetuneConfig, preset: str) -> dict[str, Any]:
    """app -> settings dataclass of the text applications the joint model trains on:
    with `finetune.multitask.enabled`, those of this run's applications without DP, when
    there are two or more; otherwise {}."""
    if not cfg.multitask.enabled:
        return {}
    settings = {
        a: getattr(cfg, a).build(preset=preset, device=cfg.device)
        for a in TEXT_APPS
        if a in cfg.applications
    }
    private = [a for a, s in settings.items() if s.privacy.enabled]
    if private:
        log.info("multitask: %s fine-tune with DP; left out of the joint model", private)
    settings = {a: s for a, s in settings.items() if a not in private}
    return settings if len(settings) >= 2 else {}


_NOT_IN_KEY = ("device", "activation_checkpointing")


def joint_key(views: AlignManifest, foundation: FoundationManifest, cfg: FinetuneConfig) -> str:
    settings = joint_settings(cfg, foundation.preset)
    # Where it trains and whether it recomputes activations do not change the model.
    as_dict = {
        a: {k: v for k, v in dataclasses.asdict(s).items() if k not in _NOT_IN_KEY}
        for a, s in settings.items()
    }
    return combine(
        [
            JOINT_VERSION,
            views.fingerprint,
            foundation.fingerprint,
            digest_json(as_dict),
            digest_json(cfg.multitask.model_dump()),
        ]
    )


def run_joint(
    views: AlignManifest,
    foundation: FoundationManifest,
    cfg: FinetuneConfig,
    store: Store,
    on_metrics: MetricsCallback | None = None,
) -> JointManifest | None:
    """Train the joint model (or reuse it: same key, same model); None when it is off or
    fewer than two text applications can share it."""
    settings = joint_settings(cfg, foundation.preset)
    if not settings:
        return None
    from karpa.applications.multitask import train_joint

    key = joint_key(views, foundation, cfg)
    if store.has(KIND, key):
        log.info("multitask: views, foundation and settings unchanged (%s), reusing", key)
        return JointManifest(**store.manifest(KIND, key), skipped=True)
    first = next(iter(settings.values()))
    with store.writing(KIND, key) as tmp:
        summary = train_joint(
            Path(views.path),
            Path(foundation.checkpoint),
            settings,
            cfg.multitask.sampling,
            cfg.multitask.lr,
            tmp,
            device=first.device,
            on_metrics=on_metrics,
        )
        manifest = {
            "fingerprint": key,
            "path": str(store.path(KIND, key)),
            "applications": summary["applications"],
            "sampling": summary["sampling"],
            "training": summary["training"],
        }
        write_manifest(tmp, manifest)
    return JointManifest(**manifest)


def joint_metrics(m: JointManifest) -> dict[str, float]:
    """What the joint fine-tune's MLflow run shows: per application, its best validation
    metric, the batches drawn from it and its sampling probability; and the step counts."""
    out: dict[str, float] = {}
    for app, info in m.training.items():
        for k, v in info.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[f"{app}.{k}"] = float(v)
    return out
