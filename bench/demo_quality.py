"""Does pretraining pay on the demo world? Runs the whole pipeline (tiny preset, CPU) on a
generated world in a temporary home and prints, per application, karpa against its
no-pretraining ablation and the baselines with 95% intervals, the few-label learning
curve, the zero-shot retrieval figures next to chance, and the wall time.

    .venv/bin/python bench/demo_quality.py                 # world seed 0
    .venv/bin/python bench/demo_quality.py --seeds 0 1 2   # results must hold across seeds
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_overrides, flow_home, header

from karpa.config import CONFIGS

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--scale", type=float, default=1.0)
    add_overrides(parser, "pretrain.steps=100")
    args = parser.parse_args()
    command = "python bench/demo_quality.py" + "".join(
        [
            f" --seeds {' '.join(map(str, args.seeds))}" if args.seeds != [0] else "",
            f" --scale {args.scale:g}" if args.scale != 1.0 else "",
            "".join(f" --set {s}" for s in args.set),
        ]
    )
    print(header("karpa on the demo world: pretrained vs ablation vs baselines", command))
    with tempfile.TemporaryDirectory() as tmp:
        flow_home(Path(tmp) / "home")
        from flows.retrain import retrain
        from karpa.demo import generate_world
        from karpa.summary import headline_table

        for seed in args.seeds:
            world = Path(tmp) / f"world-{seed}"
            generate_world(world, scale=args.scale, seed=seed)
            started = time.perf_counter()
            result = retrain(
                config=str(CONFIGS / "demo.yaml"),
                data=str(world),
                overrides=["pretrain.progress=false", "until=finetune", *args.set],
            )
            seconds = time.perf_counter() - started
            print(f"\n## world seed {seed} (scale {args.scale:g}), pipeline {seconds:.0f} s")
            pre = result["pretrain"]
            losses = ", ".join(
                f"{k} {pre['first_losses'][k]:.3f} -> {v:.3f}"
                for k, v in pre["final_losses"].items()
                if k in pre["first_losses"]
            )
            print(f"pretraining losses, first -> last logging window: {losses}")
            print(
                "zero-shot retrieval on held-out image-text pairs: "
                f"image->text R@1 {pre['image_to_text/recall@1']:.3f}, "
                f"text->image R@1 {pre['text_to_image/recall@1']:.3f} "
                f"(chance {pre['chance/recall@1']:.3f}); R@10 "
                f"{pre['image_to_text/recall@10']:.3f} (chance {pre['chance/recall@10']:.3f})"
            )
            print(headline_table([a["report"] for a in result["finetune"].values()]))
            if "recommendation" in result["finetune"]:
                print(rec_slice_lines(result["finetune"]["recommendation"]["report"]))
            if "multitask" in result:  # finetune.multitask.enabled: joint vs separate
                print(joint_lines(result))


REC_BUCKETS = (
    ("cold_items", "cold"),
    ("short_history", "short"),
    ("item_popularity", "head"),
    ("item_popularity", "mid"),
    ("item_popularity", "tail"),
)
REC_BASELINES = ("ease", "item_knn", "popularity")


def rec_slice_lines(report_path: str) -> str:
    """The served recommender on the slices where content should carry, against each
    baseline: NDCG@10 under full ranking and against the sampled negatives, and the paired
    difference to EASE with its 95% interval (the report's delta/... slice records)."""
    import json

    report = json.loads(Path(report_path).read_text())
    by = {(r["slice"], r["bucket"], r["metric"]): r for r in report["slices"]}
    n_neg = report["protocol"]["sampled"]["n_negatives"]
    lines = [
        "recommendation slices (NDCG@10; karpa = the served model; full ranking, then "
        f"against {n_neg} sampled negatives):",
        "| slice | users | karpa | EASE | item-kNN | popularity | karpa − EASE | "
        f"karpa ({n_neg} neg) | EASE ({n_neg} neg) | karpa − EASE ({n_neg} neg) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for slice_, bucket in REC_BUCKETS:
        key = (slice_, bucket)
        if (*key, "ndcg@10") not in by:
            continue  # no test user in this bucket
        cells = [f"{slice_} {bucket}", str(by[(*key, "ndcg@10")]["n"])]
        cells += [f"{by[(*key, 'ndcg@10')]['value']:.4f}"]
        cells += [f"{by[(*key, f'ndcg@10/{m}')]['value']:.4f}" for m in REC_BASELINES]
        cells += [_delta(by[(*key, "delta/ndcg@10/ease")])]
        sampled = f"sampled{n_neg}/ndcg@10"
        cells += [
            f"{by[(*key, sampled)]['value']:.4f}",
            f"{by[(*key, sampled + '/ease')]['value']:.4f}",
        ]
        cells += [_delta(by[(*key, f"delta/{sampled}/ease")])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _delta(record: dict) -> str:
    return f"{record['value']:+.4f} [{record['low']:+.4f}, {record['high']:+.4f}]"


def joint_lines(result: dict) -> str:
    """The joint multi-task fine-tune against each separate one: validation and test
    headline metric and training seconds, per text application."""
    import json

    lines = ["joint (multitask) vs separate (pretrained) fine-tune:"]
    for app, info in result["multitask"].items():
        report = json.loads(Path(result["finetune"][app]["report"]).read_text())
        metric, main = report["headline"]["metric"], report["headline"]["model"]
        test = {main: report["headline"]["estimate"]}
        test.update({k: c["headline"]["estimate"] for k, c in report["comparisons"].items()})
        val = {m: report["metrics"][f"val_{metric}/{m}"] for m in ("pretrained", "multitask")}
        lines.append(
            f"  {app} ({metric}): validation separate {val['pretrained']:.3f}, joint "
            f"{val['multitask']:.3f}; test separate {test['pretrained']:.3f}, joint "
            f"{test['multitask']:.3f}; main: {main}; separate fine-tune "
            f"{report['training']['pretrained']['seconds']:.0f} s, {info['task_batches']} of "
            f"the joint model's {info['steps']} batches"
        )
    seconds = next(iter(result["multitask"].values()))["seconds"]
    lines.append(f"  joint fine-tune (both applications): {seconds:.0f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
