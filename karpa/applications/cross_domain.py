"""Cross-domain evaluation of intent routing: hold a domain out at training time.

A domain is a family of intents (`IntentConfig.domains`: domain -> intents; the demo
preset names the demo world's families). With `holdout_domain` set, one more model is
trained, with the application's recipe and encoder, on the train split without that
domain's intents; its out-of-scope threshold is chosen on the validation split without
them too, so nothing of the domain is seen before test. On the full test split:

- in domain (every test message whose intent is not held out, out-of-scope included):
  accuracy of the held-out model, next to the application's model trained on every domain;
- the unseen domain: the share of its messages the out-of-scope detector rejects (its
  recall there). A model that never learnt an intent can only be right by saying "not
  mine", so the unseen domain's accuracy is that same share; the application's model,
  which did learn the domain, gives its accuracy on the same messages as the ceiling.

What a user learns: how much of a new kind of traffic (a product launch, a new service)
would be turned away as out of scope rather than misrouted to an intent that sounds close.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from karpa.applications.data import TextSplit, TextTask
from karpa.applications.encoders import Encoder
from karpa.applications.text_config import IntentConfig
from karpa.applications.text_runs import TFIDF, Scored, fit_models
from karpa.evaluation.bootstrap import bootstrap_ci
from karpa.evaluation.classification import choose_oos_threshold, predict_with_oos

logger = logging.getLogger(__name__)

SLICE = "cross_domain"


def held_labels(task: TextTask, cfg: IntentConfig) -> list[str]:
    """The intents of the held-out domain; each must be one the train split holds."""
    domain = cfg.holdout_domain
    labels = list(cfg.domains[domain]) if domain else []
    missing = [label for label in labels if label not in task.classes]
    if missing:
        raise ValueError(
            f"intent.domains.{domain}: {', '.join(missing)} not among the labeled train "
            f"intents ({', '.join(task.classes)})"
        )
    if len(task.classes) - len(labels) < 2:
        raise ValueError(
            f"intent.holdout_domain {domain!r}: fewer than two intents would be left to train on"
        )
    return labels


def _without(split: TextSplit, labels: Sequence[str]) -> TextSplit:
    keep = ~np.isin(split.labels, list(labels))
    return TextSplit(
        [i for i, k in zip(split.ids, keep, strict=True) if k],
        [t for t, k in zip(split.texts, keep, strict=True) if k],
        split.labels[keep],
    )


def hold_out(task: TextTask, labels: Sequence[str]) -> TextTask:
    """The task with the held-out intents removed from train, validation and the classes;
    test stays whole (its held-out messages are the unseen domain)."""
    return dataclasses.replace(
        task,
        classes=[c for c in task.classes if c not in set(labels)],
        train=_without(task.train, labels),
        val=_without(task.val, labels),
        shots={},
    )


def cross_domain_slices(
    task: TextTask,
    encoder: Encoder,
    cfg: IntentConfig,
    main: Scored,
    features: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(slice records, protocol) of the cross-domain mode; nothing without a holdout.

    main: the application's model (trained on every domain) scored on task.test.
    """
    if not cfg.holdout_domain:
        return [], {}
    started = time.perf_counter()
    labels = held_labels(task, cfg)
    held = hold_out(task, labels)
    runs = fit_models(
        held, held.train, [encoder], cfg.classifier(), True, features, prefix="cross_domain/"
    )
    y = task.test.labels
    unseen = np.isin(y, labels)
    seen = ~unseen
    if not unseen.any():
        raise ValueError(
            f"intent.holdout_domain {cfg.holdout_domain!r}: the test split has no message "
            "of its intents"
        )
    records: list[dict[str, Any]] = []
    usable = np.isin(held.val.labels, [*held.classes, cfg.oos_label])
    has_oos = bool(np.any(held.val.labels == cfg.oos_label))
    figures: dict[str, float] = {}
    for run in runs:
        threshold = 0.0
        if has_oos:
            threshold = choose_oos_threshold(
                run.probs_val[usable],
                held.val.labels[usable],
                held.classes,
                cfg.oos_label,
                cfg.threshold_criterion,
            ).threshold
        pred = np.asarray(
            predict_with_oos(run.probs_test, held.classes, threshold, cfg.oos_label), dtype=object
        )
        suffix = "" if run.name != TFIDF else f"/{TFIDF}"
        rejected = (pred == cfg.oos_label).astype(float)
        in_correct = (pred[seen] == y[seen]).astype(float)
        true_oos = y[seen] == cfg.oos_label
        parts = {
            ("in_domain", "accuracy"): in_correct,
            ("in_domain", "oos_recall"): rejected[seen][true_oos],
            (f"unseen:{cfg.holdout_domain}", "oos_recall"): rejected[unseen],
            (f"unseen:{cfg.holdout_domain}", "accuracy"): rejected[unseen],
        }
        for (bucket, metric), values in parts.items():
            if values.size == 0:
                continue
            with_ci = run.name != TFIDF
            ci = bootstrap_ci(values, cfg.curve_resamples, cfg.confidence, cfg.seed)
            records.append(
                {
                    "slice": SLICE,
                    "bucket": bucket,
                    "n": int(values.size),
                    "metric": metric + suffix,
                    "value": float(values.mean()),
                    "low": ci.low if with_ci else None,
                    "high": ci.high if with_ci else None,
                }
            )
        figures[f"{run.name}_threshold"] = threshold
    main_correct = (np.asarray(main.pred, dtype=object) == y).astype(float)
    for bucket, mask in (("in_domain", seen), (f"unseen:{cfg.holdout_domain}", unseen)):
        ci = bootstrap_ci(main_correct[mask], cfg.curve_resamples, cfg.confidence, cfg.seed)
        records.append(
            {
                "slice": SLICE,
                "bucket": bucket,
                "n": int(mask.sum()),
                "metric": "accuracy/trained_on_all",
                "value": float(main_correct[mask].mean()),
                "low": ci.low,
                "high": ci.high,
            }
        )
    protocol = {
        "cross_domain": f"domain {cfg.holdout_domain!r} ({', '.join(labels)}) held out of "
        f"train and validation; {len(held.train)} of {len(task.train)} train messages; "
        "in_domain: test messages of the other intents and out-of-scope; "
        f"unseen:{cfg.holdout_domain}: its {int(unseen.sum())} test messages, where the only "
        "right answer is out-of-scope (accuracy = oos_recall); accuracy/trained_on_all: "
        "the application's model, trained on every domain; thresholds "
        + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()),
    }
    logger.info(
        "cross-domain (%s held out) in %.1fs", cfg.holdout_domain, time.perf_counter() - started
    )
    return sorted(records, key=lambda r: (r["bucket"] != "in_domain", r["metric"])), protocol
