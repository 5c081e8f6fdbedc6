"""What the run summary says about the checkpoint the checks kept: one sentence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def foundation_sentence(
    checks: Mapping[str, Any], pretrained_start: bool, cooccurrence_start: bool = False
) -> str:
    """`checks`: karpa_models.selection.BestCheckpoint.summary() (or the same keys from
    the stage's metrics). pretrained_start: the text tower started from pretrained weights;
    cooccurrence_start: from random weights with token embeddings from co-occurrence."""
    kept, last = checks.get("kept_step"), _last_step(checks)
    rule = checks.get("rule") or {}
    how = (
        f"{rule['combine']} of the validation checks"
        if "combine" in rule
        else "combined validation checks"
    )
    start_score, kept_score = checks.get("start_combined"), checks.get("kept_combined")
    if kept is None:
        return "No downstream check ran: the foundation is the last checkpoint."
    if checks.get("start_kept"):
        start = (
            "the pretrained start"
            if pretrained_start
            else "the co-occurrence start (token embeddings from which tokens share a text, "
            "the other weights random)"
            if cooccurrence_start
            else "the random initialisation"
        )
        return (
            f"No checkpoint beat step 0 on the {how} ({_fmt(start_score)}): the foundation "
            f"is {start}, unchanged by this pretraining."
        )
    tail = "the last one" if kept == last else f"not the last (step {last})"
    return (
        f"The foundation is the checkpoint of step {kept}, {tail}: {how} {_fmt(kept_score)} "
        f"against {_fmt(start_score)} at step 0."
    )


def checks_metrics(
    checks: Mapping[str, Any], pretrained_start: bool, cooccurrence_start: bool = False
) -> dict[str, float]:
    """The verdict as metrics (`checks.*`), from which the run summary says the sentence."""
    out = {
        "checks.pretrained_start": float(pretrained_start),
        "checks.cooccurrence_start": float(cooccurrence_start),
    }
    for key in ("kept_step", "kept_combined", "start_combined", "seconds_per_check"):
        if checks.get(key) is not None:
            out[f"checks.{key}"] = float(checks[key])
    if checks.get("kept_step") is not None:
        out["checks.start_kept"] = float(bool(checks.get("start_kept")))
        out["checks.last_step"] = float(_last_step(checks) or 0)
    return out


def sentence_from_metrics(metrics: Mapping[str, float]) -> str | None:
    """The sentence back from `checks_metrics`' keys; None when the stage had no checks."""
    if "checks.kept_step" not in metrics:
        return None
    checks = {
        "kept_step": int(metrics["checks.kept_step"]),
        "start_kept": bool(metrics.get("checks.start_kept")),
        "kept_combined": metrics.get("checks.kept_combined"),
        "start_combined": metrics.get("checks.start_combined"),
        "last_step": int(metrics.get("checks.last_step", metrics["checks.kept_step"])),
    }
    return foundation_sentence(
        checks,
        bool(metrics.get("checks.pretrained_start")),
        bool(metrics.get("checks.cooccurrence_start")),
    )


def _last_step(checks: Mapping[str, Any]) -> int | None:
    history = checks.get("history") or []
    return history[-1]["step"] if history else checks.get("last_step")


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4f}"
