"""The promote stage: register every new model as challenger, re-evaluate the champion on
the same test requests, and move `champion` only through the gate.

Safe to run again for the same pipeline run (a retry): each version is registered under a
key (the pipeline run and the application), so a retry finds the version it made, and a
decision already recorded on a version is reused rather than judged and recorded twice.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from karpa.applications.robustness import entity_lexicon
from karpa.config import PromoteConfig
from karpa.evaluation.classification import macro_f1
from karpa.manifests import AlignManifest, AppManifest, FoundationManifest, HeldOutSample
from karpa.promotion.evidence import folder_mb, gather, latency_p95_ms, test_set
from karpa.promotion.gate import Decision, GateRules, decide
from karpa.promotion.robust_evidence import robustness_evidence
from karpa.tracking.registry import CHAMPION, Registry, load_predictor

logger = logging.getLogger(__name__)

PRIMARY = {"intent": "accuracy", "sentiment": "macro_f1", "recommendation": "ndcg@10"}
MODEL_NAMES = {"intent": "intent", "sentiment": "sentiment", "recommendation": "recommender"}
FOUNDATION = "foundation"


def gate_rules(cfg: PromoteConfig, app: str, seed: int) -> GateRules:
    return GateRules(
        margin=cfg.margin,
        slice_drop=cfg.slice_drop,
        min_slice_size=cfg.min_slice_size,
        max_latency_p95_ms=cfg.max_latency_p95_ms,
        max_model_mb=cfg.max_model_mb,
        floor=cfg.floors.get(app, 0.0),
        confidence=cfg.confidence,
        seed=seed,
        max_epsilon=cfg.max_epsilon.get(app),
    )


def judge(
    registry: Registry,
    name: str,
    app: str,
    challenger_uri: str,
    views: Path,
    model_dir: Path,
    sample: HeldOutSample,
    cfg: PromoteConfig,
    seed: int,
    privacy: dict | None = None,
    subject: str = "the challenger",
) -> Decision:
    """The gate's decision on one challenger: it and the champion (if any) answer the same
    test requests through their serving interface, on the examples its evaluation scored.
    privacy: the challenger's DP record (AppManifest.privacy); subject: how the refusal
    names it ("karpa-intent v3")."""
    tests = test_set(app, views, sample)
    predict = load_predictor(registry.tracking_uri, challenger_uri)
    new = gather(app, predict, tests)
    lexicon = entity_lexicon(views)
    new.slices.update(
        robustness_evidence(app, predict, tests, lexicon, cfg.robustness_sample, seed)
    )
    champion = None
    if registry.alias_version(name, CHAMPION) is not None:
        served = load_predictor(registry.tracking_uri, registry.model_uri(name))
        champion = gather(app, served, tests)
        champion.slices.update(
            robustness_evidence(app, served, tests, lexicon, cfg.robustness_sample, seed)
        )
    kwargs: dict[str, Any] = {}
    if app == "sentiment":
        # The one macro-F1 of the project, the same the evaluation reports.
        kwargs = {"metric_fn": macro_f1, "labels": new.labels}
    return decide(
        PRIMARY[app],
        new.values,
        champion.values if champion else None,
        challenger_slices=new.slices,
        champion_slices=champion.slices if champion else None,
        latency_p95_ms=latency_p95_ms(predict, tests),
        model_mb=folder_mb(model_dir),
        rules=gate_rules(cfg, app, seed),
        privacy=privacy,
        subject=subject,
        **kwargs,
    )


def decide_once(registry: Registry, name: str, version: str, judged) -> dict[str, Any]:
    """A decision recorded on the version (by an earlier attempt) stands; else judge now
    and record it."""
    recorded = registry.recorded_decision(name, version)
    if recorded is not None:
        promote, reason, figures = recorded
        return {"promote": promote, "reason": reason, "figures": figures}
    decision: Decision = judged()
    registry.record_decision(name, version, decision.promote, decision.reason, decision.figures)
    return decision.to_dict()


def promote_models(
    registry: Registry,
    pipeline_run: str,
    views: AlignManifest,
    foundation: FoundationManifest,
    apps: list[AppManifest],
    cfg: PromoteConfig,
    seed: int,
) -> dict[str, dict]:
    """Register the foundation and each application's model, decide on each, and return
    the decisions by registered name ({"version", "promote", "reason", "figures"})."""
    lineage = {
        "karpa.foundation": foundation.fingerprint,
        "karpa.pipeline_run": pipeline_run,
        "karpa.views": views.fingerprint,
    }
    foundation_name = f"{cfg.registry_prefix}{FOUNDATION}"
    # A foundation taken from the registry (an on-demand fine-tune) is already there.
    foundation_version = foundation.registry_version or registry.register(
        foundation_name,
        foundation.model_uri,
        foundation.mlflow_run_id,
        lineage,
        key={"karpa.pipeline_run": pipeline_run, "karpa.application": FOUNDATION},
    )
    decisions: dict[str, dict] = {}
    for app in apps:
        name = f"{cfg.registry_prefix}{MODEL_NAMES[app.application]}"
        version = registry.register(
            name,
            app.model_uri,
            app.mlflow_run_id,
            {
                **lineage,
                "karpa.foundation_version": foundation_version,
                "karpa.app_fingerprint": app.fingerprint,
            },
            key={"karpa.pipeline_run": pipeline_run, "karpa.application": app.application},
        )
        decision = decide_once(
            registry,
            name,
            version,
            lambda app=app, name=name, version=version: judge(
                registry,
                name,
                app.application,
                app.model_uri,
                Path(views.path),
                Path(app.model_dir),
                app.test_sample,
                cfg,
                seed,
                privacy=app.privacy,
                subject=f"{name} v{version}",
            ),
        )
        logger.info("%s v%s: %s", name, version, decision["reason"])
        decisions[name] = {"version": version, **decision}
    if foundation.registry_version is None:
        # A foundation serves only through the applications fine-tuned from it.
        promoted = [n for n, d in decisions.items() if d["promote"]]
        reason = (
            f"promoted with {', '.join(promoted)}"
            if promoted
            else "refused: no application fine-tuned from it passed its gate"
        )
        if registry.recorded_decision(foundation_name, foundation_version) is None:
            registry.record_decision(
                foundation_name,
                foundation_version,
                bool(promoted),
                reason,
                {"applications": promoted},
            )
        decisions[foundation_name] = {
            "version": foundation_version,
            "promote": bool(promoted),
            "reason": reason,
        }
    return decisions


def decision_metrics(
    decisions: dict[str, dict], apps: list[AppManifest], prefix: str
) -> dict[str, float]:
    """The promote stage's numbers for tracking: promoted (0/1) and the gate's figures."""
    out: dict[str, float] = {}
    for app in apps:
        d = decisions[f"{prefix}{MODEL_NAMES[app.application]}"]
        out[f"{app.application}.promoted"] = float(d["promote"])
        out.update(
            {
                f"{app.application}.{k}": v
                for k, v in d.get("figures", {}).items()
                if isinstance(v, int | float)
            }
        )
    return out
