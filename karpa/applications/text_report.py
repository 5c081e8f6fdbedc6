"""Turning a text application's runs into its artifacts and AppReport: the learning
curve, comparison and confusion plots, slices, the saved model and the model card."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from karpa.applications.cards import write_card
from karpa.applications.curve import curve_series
from karpa.applications.figures import comparison_plot, comparison_rows
from karpa.applications.report import AppReport
from karpa.applications.text_app import TextEvaluation
from karpa.applications.text_config import TextAppConfig
from karpa.applications.text_explain import TextExplanations
from karpa.applications.text_runs import Scored, TextRun
from karpa.evaluation.plots import confusion_matrix_plot, learning_curve_plot, robustness_plot
from karpa.evaluation.robustness import SLICE as ROBUSTNESS
from karpa.evaluation.slices import Slicing, slice_table
from karpa_models.finetune.saved import save_classifier

logger = logging.getLogger(__name__)


def text_slices(
    slicings: Sequence[Slicing],
    y: np.ndarray,
    runs: Sequence[TextRun],
    scored: dict[str, Scored],
    main: str,
    cfg: TextAppConfig,
) -> list[dict[str, Any]]:
    """Per-bucket accuracy of the main model (with intervals) and of every other model
    (as accuracy/<model>), on the same test examples."""
    per_example = {"accuracy": (scored[main].pred == y).astype(float)}
    for run in runs:
        if run.name != main:
            per_example[f"accuracy/{run.name}"] = (scored[run.name].pred == y).astype(float)
    records = slice_table(slicings, per_example, n_resamples=0, seed=cfg.seed)
    with_ci = slice_table(
        slicings,
        {"accuracy": per_example["accuracy"]},
        n_resamples=cfg.curve_resamples,
        confidence=cfg.confidence,
        seed=cfg.seed,
    )
    bounds = {(r["slice"], r["bucket"]): (r["low"], r["high"]) for r in with_ci}
    for r in records:
        if r["metric"] == "accuracy":
            r["low"], r["high"] = bounds[(r["slice"], r["bucket"])]
    return records


def finish_text_app(
    app: str,
    out_dir: Path,
    cfg: TextAppConfig,
    ev: TextEvaluation,
    slices: list[dict[str, Any]],
    labels: Sequence[str],
    y: np.ndarray,
    figures: dict[str, Path],
    intervals: dict[str, dict[str, Any]],
    summary: str,
    protocol: dict[str, Any],
    data: dict[str, Any],
    limits: list[str],
    timings: dict[str, float],
    oos_threshold: float | None = None,
    explanations: TextExplanations | None = None,
) -> AppReport:
    """Draw the shared plots, save the main model (with its nearest-example index when
    explanations were computed), write the model card and report."""
    runs, scored, main, headline = ev.runs, ev.scored, ev.main, ev.headline
    comparisons, curve = ev.comparisons, ev.curve
    plots = dict(figures)
    metrics = dict(scored[main].metrics)
    intervals = dict(intervals)
    if explanations is not None:
        plots["deletion_test"] = explanations.figure
        metrics.update(explanations.metrics())
        intervals["deletion_area"] = explanations.deletion["area"]
        protocol = {**protocol, "explanations": _explain_protocol(explanations, cfg)}
        timings = {**timings, "explain_s": explanations.seconds}
    metric = headline["metric"]
    if ev.choice is not None:  # separate vs joint fine-tune, chosen on validation
        metrics.update({f"val_{metric}/{k}": v for k, v in ev.choice["values"].items()})
        protocol = {**protocol, "main_model": ev.choice["sentence"]}
    if curve:
        plots["learning_curve"] = learning_curve_plot(
            curve_series(curve),
            out_dir / "learning_curve.png",
            metric=metric,
            title=f"{app}: {metric} against labels per class (encoders: {cfg.curve_mode})",
        )
    plots["confusion_matrix"] = confusion_matrix_plot(
        y,
        scored[main].pred,
        list(labels),
        out_dir / "confusion_matrix.png",
        title=f"{app}: {main}",
    )
    plots["comparison"] = comparison_plot(
        comparison_rows(main, headline, comparisons),
        out_dir / "comparison.png",
        metric,
        f"{app}: test {metric}, {cfg.confidence:.0%} bootstrap intervals",
    )
    if any(r["slice"] == ROBUSTNESS and r["metric"] == "accuracy" for r in slices):
        plots["robustness"] = robustness_plot(
            slices,
            out_dir / "robustness.png",
            "accuracy",
            f"{app}: {main} on perturbed test texts, {cfg.confidence:.0%} intervals",
        )
    main_run = ev.main_run
    model_dir = None
    if main_run.classifier is not None:
        clf = main_run.classifier
        if oos_threshold is not None:
            clf.with_oos_threshold(oos_threshold, str(protocol.get("oos_label", "oos")))
        clf.features = None  # the saved model runs the whole encoder
        if explanations is not None:
            clf.neighbours = explanations.index
        model_dir = save_classifier(clf, out_dir / "model")
    model_name = f"{app}-{main}"
    captions = {
        "learning_curve": "Learning curve: test metric against labeled examples per class",
        "comparison": "Headline metric of every model on the same test split",
        "confusion_matrix": "Confusion matrix of the model on the test split",
        "reliability": "Reliability diagram (in-scope test examples)",
        "deletion_test": "Deletion test: predicted-class probability as the most-attributed "
        "or random tokens are removed",
        "robustness": "Accuracy on the same test texts, clean and under each perturbation",
    }
    card = write_card(
        application=app,
        model_name=model_name,
        summary=summary,
        headline=headline,
        metrics=metrics,
        intervals=intervals,
        comparisons=comparisons,
        slices=slices,
        figures={captions.get(k, k): p for k, p in plots.items()},
        explanations=explanations.examples if explanations is not None else (),
        protocol=protocol,
        data=data,
        details={
            "model_dir": str(model_dir) if model_dir else "n/a",
            **({"main model": ev.choice["sentence"]} if ev.choice else {}),
            **_train_details(runs),
        },
        limits=limits,
        out_dir=out_dir,
        confidence=cfg.confidence,
        privacy=ev.privacy,
    )
    report = AppReport(
        application=app,
        model_name=model_name,
        headline=headline,
        metrics=metrics,
        intervals=intervals,
        comparisons=comparisons,
        pretraining_gain=ev.gain,
        learning_curve=curve,
        slices=slices,
        artifacts={
            "plots": {k: str(v) for k, v in plots.items()},
            "model_card": card,
            "model_dir": str(model_dir) if model_dir else None,
            "report": str(out_dir / "report.json"),
        },
        protocol=protocol,
        data=data,
        training={r.name: _summary(r.train_info) for r in runs if r.train_info},
        timings=timings,
        privacy=ev.privacy,
        explanations=explanations.deletion if explanations is not None else {},
    )
    report.write(out_dir / "report.json")
    logger.info(
        "%s: %s %s %.4f [%.4f, %.4f] in %.1fs",
        app,
        main,
        metric,
        headline["estimate"],
        headline["low"],
        headline["high"],
        timings.get("total_s", 0.0),
    )
    return report


def _explain_protocol(explanations: TextExplanations, cfg: TextAppConfig) -> str:
    return (
        f"token attributions by layer integrated gradients (Captum) over the token "
        f"embeddings, all-[MASK] baseline, {cfg.explain_steps} steps; deletion test on "
        f"{explanations.deletion['n_examples']} test texts, k = 1..{cfg.deletion_max_k}; "
        f"{len(explanations.index)} training examples indexed for nearest examples"
    )


def _summary(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k != "history"}


def _train_details(runs: Sequence[TextRun]) -> dict[str, str]:
    out = {}
    for run in runs:
        info = run.train_info
        if info:
            mix = (
                f", mixed with its start at alpha {info['wise']['alpha']:g}"
                if "wise" in info
                else ""
            )
            if info.get("probe", {}).get("contrastive_loss"):
                first, last = info["probe"]["contrastive_loss"]
                mix += f", after contrastive tuning (loss {first:.3f} to {last:.3f})"
            if info.get("pseudo_labeled", {}).get("added"):
                mix += (
                    f", {info['pseudo_labeled']['added']} pseudo-labeled texts beside the labeled"
                )
            if "soup" in info:
                soup = info["soup"]
                mix += (
                    f", a soup of {len(soup['kept'])} of {len(soup['seeds'])} fine-tunes "
                    f"(seeds {', '.join(map(str, soup['kept']))})"
                )
            out[f"training ({run.name})"] = (
                f"{info.get('mode')}, {info.get('steps')} steps, best at {info.get('best_step')}"
                f"{mix}, {info.get('seconds', 0.0):.1f}s"
            )
    return out
