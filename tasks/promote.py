"""The promote task: register every new model as challenger, re-evaluate the champion on
the same test requests, and move `champion` only through the gate."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task

from karpa.config import RunConfig
from karpa.home import resolve_home
from karpa.manifests import AlignManifest, AppManifest, FoundationManifest
from karpa.promotion.evidence import folder_mb, gather, latency_p95_ms, test_set
from karpa.promotion.gate import Decision, GateRules, decide
from karpa.tracking.registry import CHAMPION, Registry, load_predictor
from tasks.tracking import tracker

PRIMARY = {"intent": "accuracy", "sentiment": "macro_f1", "recommendation": "ndcg@10"}
MODEL_NAMES = {"intent": "intent", "sentiment": "sentiment", "recommendation": "recommender"}


def _rules(cfg: RunConfig, app: str) -> GateRules:
    p = cfg.promote
    return GateRules(margin=p.margin, slice_drop=p.slice_drop, min_slice_size=p.min_slice_size,
                     max_latency_p95_ms=p.max_latency_p95_ms, max_model_mb=p.max_model_mb,
                     floor=p.floors.get(app, 0.0), confidence=p.confidence, seed=cfg.seed)


def _judge(cfg: RunConfig, registry: Registry, name: str, app: str, challenger_uri: str,
           views: AlignManifest, model_dir: Path) -> Decision:
    from sklearn.metrics import f1_score

    tests = test_set(app, Path(views.path), cfg.promote.max_test_examples, cfg.seed)
    predict = load_predictor(registry.tracking_uri, challenger_uri)
    new = gather(app, predict, tests)
    champion = None
    if registry.alias_version(name, CHAMPION) is not None:
        champion = gather(app, load_predictor(registry.tracking_uri,
                                              registry.model_uri(name)), tests)
    kwargs = {}
    if app == "sentiment":
        kwargs = {"metric_fn": lambda y, p: f1_score(y, p, average="macro"),
                  "labels": new.labels}
    return decide(PRIMARY[app], new.values, champion.values if champion else None,
                  challenger_slices=new.slices,
                  champion_slices=champion.slices if champion else None,
                  latency_p95_ms=latency_p95_ms(predict, tests), model_mb=folder_mb(model_dir),
                  rules=_rules(cfg, app), **kwargs)


@task(retries=1, retry_delay_seconds=5, task_run_name="promote")
def promote(cfg: RunConfig, parent_id: str, views: AlignManifest,
            foundation: FoundationManifest, apps: list[AppManifest]) -> dict[str, dict]:
    logger = get_run_logger()
    home = resolve_home()
    t = tracker(cfg)
    registry = Registry(home.tracking_uri, home.root / "audit.jsonl")
    run_id = t.start_run("promote", parent_id=parent_id, tags={"karpa.stage": "promote"})
    lineage = {"karpa.foundation": foundation.fingerprint, "karpa.pipeline_run": parent_id,
               "karpa.views": views.fingerprint}
    decisions: dict[str, dict] = {}
    try:
        prefix = cfg.promote.registry_prefix
        foundation_name = f"{prefix}foundation"
        # A foundation taken from the registry (an on-demand fine-tune) is already there.
        foundation_version = foundation.registry_version or registry.register(
            foundation_name, foundation.model_uri, foundation.mlflow_run_id, lineage)
        for app in apps:
            name = f"{prefix}{MODEL_NAMES[app.application]}"
            version = registry.register(name, app.model_uri, app.mlflow_run_id, {
                **lineage, "karpa.foundation_version": foundation_version,
                "karpa.app_fingerprint": app.fingerprint})
            decision = _judge(cfg, registry, name, app.application, app.model_uri, views,
                              Path(app.model_dir))
            registry.record_decision(name, version, decision.promote, decision.reason,
                                     decision.figures)
            logger.info("%s v%s: %s", name, version, decision.reason)
            decisions[name] = {"version": version, **decision.to_dict()}
            t.log_metrics(run_id, {f"{app.application}.promoted": float(decision.promote),
                                   **{f"{app.application}.{k}": v
                                      for k, v in decision.figures.items()
                                      if isinstance(v, int | float)}})
        if foundation.registry_version is None:
            # A foundation serves only through the applications fine-tuned from it.
            promoted = [n for n, d in decisions.items() if d["promote"]]
            reason = (f"promoted with {', '.join(promoted)}" if promoted
                      else "refused: no application fine-tuned from it passed its gate")
            registry.record_decision(foundation_name, foundation_version, bool(promoted),
                                     reason, {"applications": promoted})
            decisions[foundation_name] = {"version": foundation_version,
                                          "promote": bool(promoted), "reason": reason}
        t.log_dict(run_id, decisions, "promotion/decisions.json")
        t.log_artifact(run_id, registry.audit_log, "promotion")
        t.end_run(run_id)
        return decisions
    except BaseException:
        t.end_run(run_id, ok=False)
        raise
