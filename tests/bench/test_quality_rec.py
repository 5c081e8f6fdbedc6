"""bench/quality.py's MovieLens figures over seeds: recommendation reports of several runs
read into mean ± std rows, paired differences, the slice table, the content ablation and
the targets (hand-made reports with the fields report.json holds)."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import _quality_rec as rec
from _quality_rec_tables import cold_threshold, rec_tables
from _quality_runs import PipelineRun

T_975_2 = 4.302653  # Student-t, 97.5th percentile, 2 degrees of freedom


def _metrics(ndcg: float) -> dict[str, float]:
    out = {"ndcg@10": ndcg, "hr@10": 2 * ndcg, "mrr": ndcg / 2}
    return {**out, **{f"sampled100/{k}": 10 * v for k, v in out.items()}}


def _slice(slice_: str, bucket: str, metric: str, value: float, n: int) -> dict:
    return {"slice": slice_, "bucket": bucket, "n": n, "metric": metric, "value": value}


def report(
    ndcg: dict[str, float],
    buckets: dict[tuple[str, str], dict[str, float]] | None = None,
    served: str = "karpa",
    delta_metric: str = "ndcg@10",
) -> dict:
    """A recommendation report: `ndcg` holds each model's NDCG@10 (the served one's too);
    `buckets` (slice, bucket) -> model -> NDCG@10, recorded as rec_slices does (the served
    model's as ndcg@10 and hr@10, the others' as ndcg@10/<model>; ten times that against
    100 negatives, as sampled100/ndcg@10[/<model>])."""
    comparisons = {
        name: {
            "metrics": _metrics(v),
            "delta": {
                "metric": delta_metric,
                "estimate": ndcg[served] - v,
                "low": ndcg[served] - v - 0.01,
                "high": ndcg[served] - v + 0.01,
            },
        }
        for name, v in ndcg.items()
        if name != served
    }
    slices = []
    for (slice_, bucket), values in (buckets or {}).items():
        for name, v in values.items():
            if name == served:
                slices += [
                    _slice(slice_, bucket, "ndcg@10", v, 40),
                    _slice(slice_, bucket, "hr@10", 3 * v, 40),
                    _slice(slice_, bucket, "sampled100/ndcg@10", 10 * v, 40),
                ]
            else:
                slices += [
                    _slice(slice_, bucket, f"ndcg@10/{name}", v, 40),
                    _slice(slice_, bucket, f"sampled100/ndcg@10/{name}", 10 * v, 40),
                ]
    slices.append(_slice("robustness", "clean", "ndcg@10", 0.9, 40))  # not a table slice
    return {
        "model_name": f"recommendation-{served}",
        "metrics": _metrics(ndcg[served]),
        "comparisons": comparisons,
        "slices": slices,
    }


BASE = {"popularity": 0.02, "item_knn": 0.035, "ease": 0.04, "scratch": 0.03}


def runs_of(served: list[float], pretrained: list[float], ids_only: list[float]) -> list:
    """Runs over pretraining seeds 0, 0, 1 (fine-tune seeds 0, 1, 0), the baselines fixed."""
    seeds = [(0, 0), (0, 1), (1, 0)]
    return [
        rec.RecRun(
            p,
            f,
            report(
                {**BASE, "karpa": s, "pretrained": c, "pretrained_ids_only": i},
                {
                    ("cold_items", "cold"): {
                        "karpa": s / 2,
                        "pretrained": c / 2,
                        "pretrained_ids_only": i / 4,
                        "ease": 0.001,
                        "item_knn": 0.002,
                    },
                    ("item_popularity", "head"): {"karpa": 2 * s, "ease": 0.1},
                },
            ),
        )
        for (p, f), s, c, i in zip(seeds, served, pretrained, ids_only, strict=True)
    ]


def test_main_rows_are_mean_and_std_over_runs_in_the_issue_order():
    runs = runs_of([0.05, 0.06, 0.07], [0.03, 0.04, 0.05], [0.02, 0.02, 0.05])
    rows = rec.main_rows(runs, 100)
    assert list(rows) == [
        "popularity",
        "item_knn",
        "ease",
        "pretrained",
        "karpa",
        "pretrained_ids_only",
        "scratch",
    ]
    karpa = rows["karpa"]
    assert karpa["ndcg@10"]["mean"] == pytest.approx(0.06)
    assert karpa["ndcg@10"]["std"] == pytest.approx(0.01)
    assert karpa["hr@10"]["values"] == pytest.approx([0.10, 0.12, 0.14])
    assert karpa["sampled100/mrr"]["mean"] == pytest.approx(0.3)
    assert rows["ease"]["ndcg@10"]["std"] == 0.0  # a deterministic baseline


def test_a_model_missing_from_one_run_has_no_row_and_served_models_must_agree():
    runs = runs_of([0.05, 0.06, 0.07], [0.03, 0.04, 0.05], [0.02, 0.02, 0.05])
    del runs[1].report["comparisons"]["scratch"]
    assert "scratch" not in rec.main_rows(runs, 100)
    other = rec.RecRun(2, 0, report({**BASE, "pretrained": 0.05}, served="pretrained"))
    with pytest.raises(ValueError, match="different models"):
        rec.common_models([*runs, other])


def test_paired_rows_are_served_minus_each_model_with_a_t_interval_over_runs():
    runs = runs_of([0.05, 0.06, 0.07], [0.03, 0.04, 0.05], [0.02, 0.02, 0.05])
    pairs = rec.paired_rows(runs)
    assert "karpa" not in pairs
    ease = pairs["ease"]
    # differences 0.01, 0.02, 0.03: mean 0.02, sd 0.01
    assert ease["mean"] == pytest.approx(0.02)
    assert ease["high"] - ease["mean"] == pytest.approx(T_975_2 * 0.01 / 3**0.5, rel=1e-4)
    assert ease["n"] == 3
    assert ease["by_pretrain_seed"] == pytest.approx({0: 0.015, 1: 0.03})
    assert [b["estimate"] for b in ease["per_run_bootstrap"]] == pytest.approx([0.01, 0.02, 0.03])
    # the ids-only model: served minus it, not the content ablation (that is content_rows)
    assert pairs["pretrained_ids_only"]["mean"] == pytest.approx(0.03)


def test_per_run_bootstrap_is_left_out_when_the_report_delta_is_on_another_metric():
    runs = [
        rec.RecRun(0, s, report({**BASE, "karpa": 0.05 + s / 100}, delta_metric="accuracy"))
        for s in range(2)
    ]
    assert rec.paired_rows(runs)["ease"]["per_run_bootstrap"] == []


def test_slice_rows_read_each_model_and_leave_out_buckets_some_run_lacks():
    runs = runs_of([0.05, 0.06, 0.07], [0.03, 0.04, 0.05], [0.02, 0.02, 0.05])
    runs[2].report["slices"] = [
        s for s in runs[2].report["slices"] if s["slice"] != "item_popularity"
    ]
    rows = rec.slice_rows(runs, rec.common_models(runs), cold_below=5, n_negatives=100)
    assert [(r["slice"], r["bucket"]) for r in rows] == [("cold_items", "cold")]
    cold = rows[0]
    assert cold["label"] == "cold items (< 5 training interactions)"
    assert cold["n"] == [40]
    assert cold["ndcg@10"]["karpa"]["mean"] == pytest.approx(0.03)
    assert cold["ndcg@10"]["pretrained"]["mean"] == pytest.approx(0.02)
    assert "popularity" not in cold["ndcg@10"]  # no record of it in this slice
    assert cold["hr@10"]["karpa"]["mean"] == pytest.approx(0.09)  # the served model's only
    assert set(cold["hr@10"]) == {"karpa"}
    assert cold["paired"]["ease"]["mean"] == pytest.approx(0.029)
    assert set(cold["paired"]) == {"ease", "item_knn"}
    assert cold["sampled"]["karpa"]["mean"] == pytest.approx(0.3)  # against 100 negatives
    assert cold["paired_sampled"]["ease"]["mean"] == pytest.approx(0.29)
    # A run whose report predates the sampled slices: those columns are left out.
    runs[1].report["slices"] = [s for s in runs[1].report["slices"] if "sampled" not in s["metric"]]
    cold = rec.slice_rows(runs, rec.common_models(runs), 5, 100)[0]
    assert cold["sampled"] == {} and cold["paired_sampled"] == {}
    assert cold["ndcg@10"]["karpa"]["mean"] == pytest.approx(0.03)


def test_content_rows_pair_the_sequence_model_with_its_ids_only_twin():
    runs = runs_of([0.05, 0.06, 0.07], [0.03, 0.04, 0.05], [0.02, 0.02, 0.05])
    content = rec.content_rows(runs, 100)
    assert [c["what"] for c in content] == [
        "all test users: hr@10",
        "all test users: ndcg@10",
        "all test users: mrr",
        "all test users (100 neg): ndcg@10",
        "cold items: ndcg@10",
        "cold items (100 neg): ndcg@10",
    ]
    ndcg = content[1]
    assert ndcg["paired"]["mean"] == pytest.approx(statistics.fmean([0.01, 0.02, 0.0]))
    assert ndcg["ids_only"]["mean"] == pytest.approx(0.03)
    assert content[3]["paired"]["mean"] == pytest.approx(10 * ndcg["paired"]["mean"])
    # cold: content c/2 against ids-only i/4, and ten times that against 100 negatives
    cold = statistics.fmean([0.015 - 0.005, 0.02 - 0.005, 0.025 - 0.0125])
    assert content[4]["paired"]["mean"] == pytest.approx(cold)
    assert content[5]["paired"]["mean"] == pytest.approx(10 * cold)
    assert content[5]["content"]["mean"] == pytest.approx(0.2)
    without = [rec.RecRun(0, s, report({**BASE, "karpa": 0.05})) for s in range(2)]
    assert rec.content_rows(without, 100) == []


@pytest.mark.parametrize(
    ("served", "reached"),
    [
        ([0.0445, 0.0446, 0.0447], True),  # >= 0.044 and the interval above zero
        ([0.030, 0.070, 0.035], False),  # mean 0.045 >= 0.044, but the interval holds zero
        ([0.042, 0.043, 0.043], False),  # above EASE every run, below EASE x 1.10
    ],
)
def test_the_headline_target_needs_the_margin_and_the_interval(served, reached):
    runs = runs_of(served, [0.03, 0.03, 0.03], [0.02, 0.02, 0.02])
    rows = rec.main_rows(runs, 100)
    pairs = rec.paired_rows(runs)
    slices = rec.slice_rows(runs, list(rows), 5, 100)
    targets = rec.judge_targets(rows, pairs, slices, "karpa")
    assert targets["headline"]["reached"] is reached
    assert targets["headline"]["needed"] == pytest.approx(0.044)
    assert targets["cold_items"]["reached"] is True  # served s/2 >= EASE 0.001
    assert targets["short_history"] == {"reached": None}  # no short-history bucket


def test_rec_tables_print_the_rows_targets_and_slices():
    runs = runs_of([0.05, 0.06, 0.07], [0.03, 0.04, 0.05], [0.02, 0.02, 0.05])
    for run in runs:
        run.report["protocol"] = {
            "cold_items": "target item with < 3 training interactions",
            "sampled": {"n_negatives": 100, "seed": 0},
            "full": {"n_items": 9742},
            "recommender": {
                "epochs": 100,
                "max_steps": None,
                "patience": 20,
                "lr": 0.001,
                "batch_size": 32,
                "loss": "full_softmax",
            },
            "early_stopping": "validation ndcg@10 on 500 users",
            "test_users": 610,
        }
        run.report["data"] = {"training_sequences": 610}
    out = rec_tables(runs, "small", 300, reused=1)
    lines = out.table.splitlines()
    assert [ln.split("|")[1].strip() for ln in lines[2:]] == [rec.ROWS[m] for m in rec.ROWS]
    assert "0.0600 ± 0.0100" in lines[6]  # karpa served, NDCG@10
    # 0.06 >= 0.044, but the differences 0.01, 0.02, 0.03 over three runs leave zero inside
    assert "+0.0200 [-0.0048, +0.0448]" in out.targets[0]
    assert out.targets[0].endswith("(not reached)")
    # cold: served 0.025..0.035 against EASE 0.001 in every run
    assert "cold items" in out.targets[1]
    assert (
        "(reached; clearly: the interval is above zero); against 100 sampled negatives"
        in (out.targets[1])
    )
    assert out.targets[2].endswith("(no such users)")
    text = "\n".join(out.extra)
    assert "cold items (< 3 training interactions)" in text
    assert "karpa served - EASE" in text
    assert "slices against 100 sampled negatives" in text
    assert any(
        "karpa/configs/real/movielens.yaml" in p and "not tuned on test" in p for p in out.protocol
    )
    assert out.figures["runs"][2] == {"pretrain_seed": 1, "finetune_seed": 0}


def test_cold_threshold_is_read_from_the_protocol_or_refused():
    assert cold_threshold({"protocol": {"cold_items": "target item with < 7 training x"}}) == 7
    with pytest.raises(ValueError, match="no cold-item threshold"):
        cold_threshold({"protocol": {"cold_items": "cold items"}})


def test_a_reused_foundation_is_said_in_the_timing_line():
    seconds = {"prepare": 1.0, "pretrain": 0.2, "finetune": 30.0}
    fresh = PipelineRun("a", {}, Path(), seconds, 300, 5.0)
    reused = PipelineRun("b", {}, Path(), seconds, 300, 5.0, pretrain_reused=True)
    assert "300 step(s) and setup, 5.0 samples/s" in fresh.timing()
    assert "an earlier run's foundation reused, 300 step(s)" in reused.timing()
    assert "samples/s" not in reused.timing()


def test_the_timing_line_names_the_peak_memory_after_each_stage():
    seconds = {"prepare": 1.0, "pretrain": 0.2, "finetune": 30.0}
    peaks = {"prepare": 512.0, "pretrain": 1900.4, "finetune": 4096.0}
    run = PipelineRun("a", {}, Path(), seconds, 300, 5.0, peak_mb=peaks)
    assert run.timing().endswith(
        "peak resident MB after prepare 512, pretrain 1,900, finetune 4,096"
    )
    assert "peak resident" not in PipelineRun("b", {}, Path(), seconds, 300, 5.0).timing()
    again = PipelineRun.from_json(
        {
            "label": "a",
            "report": {},
            "seconds": seconds,
            "pretrain_steps": 300,
            "pretrain_samples_per_s": 5.0,
            "peak_mb": peaks,
        }
    )
    assert again.peak_mb == peaks


def test_the_timing_line_ends_with_the_pretraining_checks_verdict():
    seconds = {"prepare": 1.0, "pretrain": 0.2, "finetune": 30.0}
    verdict = "No checkpoint beat step 0 on the mean of the validation checks: the start."
    run = PipelineRun("a", {}, Path(), seconds, 300, 5.0, pretrain_verdict=verdict)
    assert run.timing().endswith(f"; checks: {verdict}")
    assert "checks:" not in PipelineRun("b", {}, Path(), seconds, 300, 5.0).timing()
    kept = {"label": "a", "report": {}, "seconds": seconds, "pretrain_steps": 300}
    again = PipelineRun.from_json(
        {**kept, "pretrain_samples_per_s": 5.0, "pretrain_verdict": verdict}
    )
    assert again.pretrain_verdict == verdict
    # A file written before the verdict was kept reads as no verdict.
    assert PipelineRun.from_json({**kept, "pretrain_samples_per_s": 5.0}).pretrain_verdict == ""
