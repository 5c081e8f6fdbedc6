"""Robustness and cross-domain figures on the demo world: the perturbation table of intent
and sentiment (accuracy and macro-F1 with 95% intervals, clean and under each
perturbation, on the test sample the evaluation perturbs), then the cross-domain mode for
every intent family of the demo preset (trained without it: in-domain accuracy, and how
much of the unseen family the out-of-scope detector turns away).

    .venv/bin/python bench/robustness.py                       # world seed 0, scale 1
    .venv/bin/python bench/robustness.py --pretrain-steps 300  # a shorter pretraining
    .venv/bin/python bench/robustness.py --set finetune.intent.max_steps=80  # any override

Stages are called directly (no Prefect, no MLflow) in a temporary folder, as
bench/_quality_runs.py does; the learning curve and the scratch ablation are skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_overrides, direct_views, header

from karpa.config import CONFIGS

logger = logging.getLogger("bench.robustness")


def _ci(r: dict) -> str:
    if r.get("low") is None:
        return f"{r['value']:.3f}"
    return f"{r['value']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"


def robustness_table(app: str, report) -> str:
    robust = [r for r in report.slices if r["slice"] == "robustness"]
    by = {(r["bucket"], r["metric"]): r for r in robust}
    clean = by[("clean", "accuracy")]["value"]
    lines = [
        f"\n## {app}: {robust[0]['n']} test texts ({report.timings['robustness_s']:.1f} s added)",
        "| perturbation | texts changed | accuracy [95% CI] | vs clean | macro-F1 [95% CI] |",
        "|---|---|---|---|---|",
    ]
    for bucket in dict.fromkeys(r["bucket"] for r in robust):
        acc = by[(bucket, "accuracy")]
        lines.append(
            f"| {bucket} | {by[(bucket, 'changed')]['value']:.0%} | {_ci(acc)} | "
            f"{acc['value'] - clean:+.3f} | {_ci(by[(bucket, 'macro_f1')])} |"
        )
    return "\n".join(lines)


def cross_domain_table(rows: list[tuple[str, dict, float]]) -> str:
    lines = [
        "\n## intent, cross-domain: each family held out of training in turn",
        "| held out | in-domain accuracy (held-out model) | in-domain accuracy (all-domain "
        "model) | unseen family rejected as out-of-scope (= its accuracy) | TF-IDF rejects | "
        "all-domain model's accuracy on the family | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for domain, by, seconds in rows:
        u = f"unseen:{domain}"
        lines.append(
            f"| {domain} | {_ci(by[('in_domain', 'accuracy')])} | "
            f"{_ci(by[('in_domain', 'accuracy/trained_on_all')])} | "
            f"{_ci(by[(u, 'oos_recall')])} | {by[(u, 'oos_recall/tfidf_lr')]['value']:.3f} | "
            f"{_ci(by[(u, 'accuracy/trained_on_all')])} | {seconds:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--pretrain-steps", type=int, default=None)
    parser.add_argument("--no-cross-domain", action="store_true")
    add_overrides(parser, "finetune.intent.epochs=2")
    args = parser.parse_args()
    command = "python bench/robustness.py" + "".join(
        [
            f" --seed {args.seed}" if args.seed else "",
            f" --scale {args.scale:g}" if args.scale != 1.0 else "",
            f" --pretrain-steps {args.pretrain_steps}" if args.pretrain_steps else "",
            " --no-cross-domain" if args.no_cross_domain else "",
            "".join(f" --set {s}" for s in args.set),
        ]
    )
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    print(header("karpa robustness and cross-domain figures on the demo world", command))
    with tempfile.TemporaryDirectory() as tmp:
        from karpa.home import activate

        activate(Path(tmp) / "home")
        from karpa.applications.cross_domain import cross_domain_slices
        from karpa.applications.data import load_text_task
        from karpa.applications.encoders import load_encoders
        from karpa.applications.intent import run_intent
        from karpa.applications.sentiment import run_sentiment
        from karpa.applications.text_runs import Scored
        from karpa.config import load_config
        from karpa.demo import generate_world
        from karpa.finetuning import app_config
        from karpa.pretraining.stage import pretrain_foundation
        from karpa.store import Store
        from karpa_models.finetune.saved import load_classifier

        started = time.perf_counter()
        world = Path(tmp) / "world"
        generate_world(world, scale=args.scale, seed=args.seed)
        sets = ["until=finetune", "pretrain.progress=false", f"seed={args.seed}"]
        if args.pretrain_steps:
            sets.append(f"pretrain.steps={args.pretrain_steps}")
        sets += args.set
        cfg = load_config(CONFIGS / "demo.yaml", sets, str(world))
        store = Store(Path(tmp) / "store")
        views = direct_views(cfg, store)
        logger.info("views ready in %.0f s; pretraining", time.perf_counter() - started)
        mark = time.perf_counter()
        foundation = pretrain_foundation(views, cfg.pretrain, cfg.seed, store)
        print(
            f"\nworld seed {args.seed}, scale {args.scale:g}; pretraining "
            f"{foundation.steps} steps in {time.perf_counter() - mark:.0f} s"
        )
        ckpt, views_dir = Path(foundation.checkpoint), Path(views.path)
        reports = {}
        for app, runner in (("intent", run_intent), ("sentiment", run_sentiment)):
            settings = dataclasses.replace(
                app_config(app, cfg.finetune, foundation.preset), k_shots=(), run_scratch=False
            )
            logger.info("%s: fine-tune and evaluate", app)
            reports[app] = runner(views_dir, ckpt, settings, Path(tmp) / app)
            print(robustness_table(app, reports[app]))
        if args.no_cross_domain:
            return
        settings = dataclasses.replace(
            app_config("intent", cfg.finetune, foundation.preset),
            k_shots=(),
            run_scratch=False,
            robustness_sample=0,
        )
        task = load_text_task(views_dir, "intent", [settings.oos_label], settings.max_test_examples)
        (encoder,) = load_encoders(views_dir, ckpt, "cpu", 0, settings.preset, False, settings.seed)
        served = load_classifier(reports["intent"].artifacts["model_dir"])
        main = Scored(pred=served.predict(task.test.texts), metrics={})
        rows = []
        for domain in settings.domains:
            logger.info("cross-domain: %s held out", domain)
            mark = time.perf_counter()
            held = dataclasses.replace(settings, holdout_domain=domain)
            records, _ = cross_domain_slices(task, encoder, held, main)
            by = {(r["bucket"], r["metric"]): r for r in records}
            rows.append((domain, by, time.perf_counter() - mark))
        print(cross_domain_table(rows))
        print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
