"""The privacy side of a text application: the non-private twin of a DP fine-tune, and
what the run spent and what it cost.

When `privacy.enabled`, the served model (and the scratch ablation, so the pretraining
gain compares like with like) is fine-tuned with DP-SGD. A user who turns privacy on
wants to know what it costs on *their* data, so the same run also fine-tunes the same
encoder without DP on the same split (`privacy.compare_non_private`, on by default): the
cost is the paired difference non-private minus private on the same test examples. That
twin is not saved or served; only its test metrics are reported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from karpa.applications.data import TextTask
from karpa.applications.encoders import Encoder
from karpa.applications.privacy_figures import COVERS
from karpa.applications.report import interval_dict
from karpa.applications.text_config import TextAppConfig
from karpa.applications.text_finetune import finetune_on_task
from karpa.applications.text_runs import Scored, TextRun
from karpa.evaluation.bootstrap import paired_bootstrap
from karpa_models.finetune.loop import MetricsCallback
from karpa_models.finetune.privacy_config import PrivacyConfig

REFERENCE = "reference"  # the twin's kind among the comparisons


def twin_name(main: str) -> str:
    return f"{main}_non_private"


def non_private_twin(
    task: TextTask,
    encoders: Sequence[Encoder],
    runs: Sequence[TextRun],
    cfg: TextAppConfig,
    on_metrics: MetricsCallback | None,
    prefix: str,
) -> TextRun | None:
    """The main model's encoder fine-tuned with the same recipe minus DP, scored on the
    same validation and test texts; None unless the run is private and asks for it."""
    if not (cfg.privacy.enabled and cfg.privacy.compare_non_private):
        return None
    main = next(r.name for r in runs if r.kind == "model")
    enc = next(e for e in encoders if e.name == main)
    recipe = dataclasses.replace(cfg.classifier(), privacy=PrivacyConfig())
    clf = finetune_on_task(
        task,
        enc.model,
        enc.tokenizer,
        recipe,
        name=f"{prefix}{twin_name(main)}",
        on_metrics=on_metrics,
    )
    return TextRun(
        name=twin_name(main),
        kind=REFERENCE,
        probs_val=clf.predict_proba(task.val.texts),
        probs_test=clf.predict_proba(task.test.texts),
        train_info=clf.train_info,
    )


def privacy_report(
    main_run: TextRun,
    scored: dict[str, Scored],
    comparisons: dict[str, dict[str, Any]],
    y: np.ndarray,
    metric: str,
    cfg: TextAppConfig,
) -> dict[str, Any] | None:
    """What the DP fine-tune spent (ε, δ and the mechanism's settings) and, with the
    twin, what it cost: `cost[<metric>]` is the paired interval of non-private minus
    private on the headline metric and on accuracy. None for a non-private run."""
    spent = main_run.train_info.get("privacy")
    if spent is None:
        return None
    out: dict[str, Any] = {**spent, "mechanism": "DP-SGD (Opacus)", "covers": COVERS}
    twin = twin_name(main_run.name)
    if twin not in comparisons:
        return out
    delta = comparisons[twin]["delta"]  # private minus non-private, paired
    cost = {
        metric: {
            **delta,
            "estimate": -delta["estimate"],
            "low": -delta["high"],
            "high": -delta["low"],
            "protocol": f"{twin} minus {main_run.name}, paired bootstrap over test examples",
        }
    }
    if metric != "accuracy":
        ours = (scored[main_run.name].pred == y).astype(float)
        theirs = (scored[twin].pred == y).astype(float)
        interval = paired_bootstrap(theirs, ours, cfg.n_resamples, cfg.confidence, cfg.seed)
        cost["accuracy"] = interval_dict(
            interval, "accuracy", f"{twin} minus {main_run.name}, paired bootstrap"
        )
    out["non_private"] = {
        "model": twin,
        metric: comparisons[twin]["headline"]["estimate"],
        "accuracy": scored[twin].metrics.get("accuracy"),
    }
    out["private"] = {
        "model": main_run.name,
        metric: scored[main_run.name].metrics.get(metric),
        "accuracy": scored[main_run.name].metrics.get("accuracy"),
    }
    out["cost"] = cost
    return out
