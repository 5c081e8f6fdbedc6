"""bench/quality.py's MovieLens figures over seeds: the recommendation reports of several
runs (pretraining seeds x fine-tune seeds, on the same split) read into mean ± std rows,
paired differences over the runs, the slice table and the content ablation.

Pure functions of the reports (dicts as report.json holds them), so that a result file's
runs can be read again and tests can feed hand-made reports."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from _quality_rows import mean_std, paired_over_seeds

# Report model name -> table row, in print order (the seven rows).
ROWS = {
    "popularity": "popularity",
    "item_knn": "item-kNN",
    "ease": "EASE",
    "pretrained": "karpa sequence model (pretrained)",
    "karpa": "karpa served (sequence + EASE hybrid)",
    "pretrained_ids_only": "ids-only ablation (no content)",
    "scratch": "no pretraining (scratch ablation)",
}
# ... and in the columns of the wider tables.
SHORT = {
    "karpa": "karpa served",
    "pretrained": "sequence model",
    "pretrained_ids_only": "ids-only",
    "scratch": "scratch",
    "ease": "EASE",
    "item_knn": "item-kNN",
    "popularity": "popularity",
}
BASELINES = ("ease", "item_knn", "popularity")
METRICS = ("hr@10", "ndcg@10", "mrr")
HEADLINE = "ndcg@10"
CONTENT, IDS_ONLY = "pretrained", "pretrained_ids_only"
# The slices of the table: (slice, bucket) as rec_slices (karpa/applications/rec_report.py)
# writes them, and what the row says.
SLICES = (
    ("cold_items", "cold", "cold items (< {cold_below} training interactions)"),
    ("cold_start", "cold", "never-seen items (0 training interactions)"),
    ("cold_items", "warm", "warm items (>= {cold_below})"),
    ("short_history", "short", "short histories (< 5 items)"),
    ("short_history", "long", "long histories (>= 5 items)"),
    ("item_popularity", "head", "head items (top 10% by count)"),
    ("item_popularity", "mid", "mid items"),
    ("item_popularity", "tail", "tail items (bottom 50%)"),
)


@dataclass(frozen=True)
class RecRun:
    """One fine-tune's report and the seeds that made it."""

    pretrain_seed: int
    finetune_seed: int
    report: dict[str, Any]

    @property
    def served(self) -> str:
        """The report's own model (the served one): "karpa" when the hybrid is on."""
        return self.report["model_name"].split("-", 1)[1]

    def metrics(self, model: str) -> dict[str, float] | None:
        """The model's test metrics (full ranking and sampledN/...), None if not run."""
        if model == self.served:
            return self.report["metrics"]
        comp = self.report["comparisons"].get(model)
        return None if comp is None else comp["metrics"]

    def slice_value(self, slice_: str, bucket: str, model: str, metric: str) -> float | None:
        """The model's mean `metric` on a slice bucket; the report holds both metrics for
        its own model and NDCG@10 alone (as ndcg@10/<model>) for the others."""
        name = metric if model == self.served else f"{metric}/{model}"
        return next(
            (
                r["value"]
                for r in self.report["slices"]
                if (r["slice"], r["bucket"], r["metric"]) == (slice_, bucket, name)
            ),
            None,
        )

    def slice_n(self, slice_: str, bucket: str) -> int | None:
        return next(
            (
                r["n"]
                for r in self.report["slices"]
                if (r["slice"], r["bucket"]) == (slice_, bucket)
            ),
            None,
        )


def spread(values: Sequence[float]) -> dict[str, Any]:
    """{mean, std (sample; 0 for one value), values} over runs."""
    values = [float(v) for v in values]
    mean, std = mean_std(values)
    return {"mean": mean, "std": std, "values": values}


def paired(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """a - b paired over runs: {mean, low, high, n} (Student-t, 95%)."""
    mean, low, high = paired_over_seeds(a, b)
    return {"mean": mean, "low": low, "high": high, "n": len(a)}


def common_models(runs: Sequence[RecRun]) -> list[str]:
    """The models every run has, in ROWS order (then any other, by name)."""
    if not runs:
        raise ValueError("no recommendation run to aggregate")
    served = {r.served for r in runs}
    if len(served) != 1:
        raise ValueError(f"the runs serve different models: {sorted(served)}")
    names = set(runs[0].report["comparisons"]) | served
    for run in runs[1:]:
        names &= set(run.report["comparisons"]) | served
    return [n for n in ROWS if n in names] + sorted(names - set(ROWS))


def metric_values(runs: Sequence[RecRun], model: str, metric: str) -> list[float]:
    """The metric of `model` in every run, in run order."""
    out = []
    for run in runs:
        found = run.metrics(model)
        if found is None or metric not in found:
            raise KeyError(
                f"{model} has no {metric} in run {run.pretrain_seed}/{run.finetune_seed}"
            )
        out.append(float(found[metric]))
    return out


def main_rows(runs: Sequence[RecRun], n_negatives: int) -> dict[str, dict[str, Any]]:
    """Report model name -> metric -> spread over runs, full ranking (METRICS) and
    sampled (sampledN/<metric>)."""
    names = [*METRICS, *(f"sampled{n_negatives}/{m}" for m in METRICS)]
    return {
        model: {m: spread(metric_values(runs, model, m)) for m in names}
        for model in common_models(runs)
    }


def paired_rows(runs: Sequence[RecRun], metric: str = HEADLINE) -> dict[str, dict[str, Any]]:
    """The served model minus each other model on `metric`, paired over runs, with the mean
    of each pretraining seed's runs and each run's own paired bootstrap over test users
    (the report's comparisons delta, when it is on this metric)."""
    served = runs[0].served
    mine = metric_values(runs, served, metric)
    out = {}
    for model in common_models(runs):
        if model == served:
            continue
        theirs = metric_values(runs, model, metric)
        by_seed: dict[int, list[float]] = {}
        for run, a, b in zip(runs, mine, theirs, strict=True):
            by_seed.setdefault(run.pretrain_seed, []).append(a - b)
        deltas = [run.report["comparisons"][model].get("delta") for run in runs]
        per_run = (
            [{k: d[k] for k in ("estimate", "low", "high")} for d in deltas]
            if all(d and d.get("metric") == metric for d in deltas)
            else []
        )
        out[model] = {
            **paired(mine, theirs),
            "by_pretrain_seed": {s: statistics.fmean(v) for s, v in by_seed.items()},
            "per_run_bootstrap": per_run,
        }
    return out


def slice_rows(
    runs: Sequence[RecRun], models: Sequence[str], cold_below: int, n_negatives: int
) -> list[dict[str, Any]]:
    """One record per slice bucket every run has: n (users, per run), NDCG@10 of each model
    (full ranking, and against the sampled protocol's n_negatives where every run's report
    has it) and the served model's HR@10 as spreads over runs, and served minus each
    baseline on NDCG@10 paired over runs. A bucket empty in some run is left out."""
    served = runs[0].served
    sampled_metric = f"sampled{n_negatives}/{HEADLINE}"
    out = []
    for slice_, bucket, label in SLICES:
        ns = [run.slice_n(slice_, bucket) for run in runs]
        if any(n is None for n in ns):
            continue
        ndcg: dict[str, list[float]] = {}
        sampled: dict[str, list[float]] = {}
        for model in models:
            found = [run.slice_value(slice_, bucket, model, HEADLINE) for run in runs]
            if all(v is not None for v in found):
                ndcg[model] = found
            found = [run.slice_value(slice_, bucket, model, sampled_metric) for run in runs]
            if all(v is not None for v in found):
                sampled[model] = found
        hr = [run.slice_value(slice_, bucket, served, "hr@10") for run in runs]
        out.append(
            {
                "slice": slice_,
                "bucket": bucket,
                "label": label.format(cold_below=cold_below),
                "n": sorted(set(ns)),
                HEADLINE: {m: spread(v) for m, v in ndcg.items()},
                "hr@10": {served: spread(hr)} if all(v is not None for v in hr) else {},
                "paired": {
                    m: paired(ndcg[served], ndcg[m])
                    for m in BASELINES
                    if m in ndcg and served in ndcg
                },
                "n_negatives": n_negatives,
                "sampled": {m: spread(v) for m, v in sampled.items()},
                "paired_sampled": {
                    m: paired(sampled[served], sampled[m])
                    for m in BASELINES
                    if m in sampled and served in sampled
                },
            }
        )
    return out


def content_rows(runs: Sequence[RecRun], n_negatives: int) -> list[dict[str, Any]]:
    """The content ablation: the pretrained sequence model with content vs the same model
    with the content vectors zeroed, same seeds, paired over runs, on the whole test set
    and on the slices where content should carry (cold items, short histories, tail),
    under full ranking and against the sampled protocol's n_negatives (where a cold item
    that reaches nobody's top 10 of the catalogue can still be ranked above the items the
    user did not pick). Empty when the runs have no ids-only model."""
    if IDS_ONLY not in common_models(runs):
        return []
    out = []
    for metric in METRICS:
        a, b = metric_values(runs, CONTENT, metric), metric_values(runs, IDS_ONLY, metric)
        out.append(_content_record(f"all test users: {metric}", a, b))
    sampled = f"sampled{n_negatives}/{HEADLINE}"
    a, b = metric_values(runs, CONTENT, sampled), metric_values(runs, IDS_ONLY, sampled)
    out.append(_content_record(f"all test users ({n_negatives} neg): {HEADLINE}", a, b))
    for slice_, bucket, label in SLICES:
        if (slice_, bucket) not in (
            ("cold_items", "cold"),
            ("short_history", "short"),
            ("item_popularity", "tail"),
        ):
            continue
        name = label.split(" (")[0]
        for metric, where in ((HEADLINE, name), (sampled, f"{name} ({n_negatives} neg)")):
            a = [run.slice_value(slice_, bucket, CONTENT, metric) for run in runs]
            b = [run.slice_value(slice_, bucket, IDS_ONLY, metric) for run in runs]
            if all(v is not None for v in [*a, *b]):
                out.append(_content_record(f"{where}: {HEADLINE}", a, b))
    return out


def _content_record(what: str, a: list[float], b: list[float]) -> dict[str, Any]:
    return {"what": what, "content": spread(a), "ids_only": spread(b), "paired": paired(a, b)}


def judge_targets(
    rows: dict[str, dict[str, Any]],
    pairs: dict[str, dict[str, Any]],
    slices: Sequence[dict[str, Any]],
    served: str,
) -> dict[str, dict[str, Any]]:
    """Issue 23's targets on the aggregated figures: mean NDCG@10 >= EASE x 1.10 with the
    paired interval over runs above zero; karpa >= EASE on cold items and on short
    histories (mean over runs). Each: {reached, and the figures judged}."""
    mine, ease = rows[served][HEADLINE]["mean"], rows["ease"][HEADLINE]["mean"]
    vs_ease = pairs["ease"]
    out: dict[str, dict[str, Any]] = {
        "headline": {
            "karpa": mine,
            "ease": ease,
            "needed": 1.10 * ease,
            "paired": vs_ease,
            "reached": mine >= 1.10 * ease and vs_ease["low"] > 0,
        }
    }
    for key, slice_, bucket in (
        ("cold_items", "cold_items", "cold"),
        ("short_history", "short_history", "short"),
    ):
        found = next((s for s in slices if (s["slice"], s["bucket"]) == (slice_, bucket)), None)
        if found is None or not {served, "ease"} <= set(found[HEADLINE]):
            out[key] = {"reached": None}  # no such users in these runs
            continue
        a, b = found[HEADLINE][served]["mean"], found[HEADLINE]["ease"]["mean"]
        out[key] = {"karpa": a, "ease": b, "paired": found["paired"]["ease"], "reached": a >= b}
        if "ease" in found["paired_sampled"]:  # beside it, not judged: the is full
            out[key]["sampled"] = {
                "n_negatives": found["n_negatives"],
                "karpa": found["sampled"][served]["mean"],
                "ease": found["sampled"]["ease"]["mean"],
                "paired": found["paired_sampled"]["ease"],
            }
    return out
