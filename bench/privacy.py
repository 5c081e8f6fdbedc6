"""What a privacy budget costs on the demo world: DP-SGD fine-tunes (Opacus) of intent and
sentiment next to the same fine-tune without DP, on the same split and the same
foundation. Prints, per application and budget, the ε spent, δ, the noise, and the
accuracy (and headline metric) of both with the paired cost and its 95% interval.

    .venv/bin/python bench/privacy.py                       # target ε 1, 4 and 8
    .venv/bin/python bench/privacy.py --epsilons 8 --scale 0.5 --pretrain-steps 300

The stages are called directly (no Prefect, no MLflow), as the flow's tasks call them:
ingest -> validate -> align -> pretrain once, then one fine-tune per application and ε
with `finetune.<app>.privacy={enabled: true, target_epsilon: ε}`; the private run also
trains its non-private twin (`compare_non_private`). The learning curve and the scratch
ablation are left out (`k_shots: []`, `run_scratch: false`): they do not change the cost.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_overrides, direct_views, header

from karpa.config import CONFIGS

APPS = ("intent", "sentiment")


def _settings(app: str, epsilon: float) -> str:
    return (
        f"finetune.{app}={{k_shots: [], run_scratch: false, "
        f"privacy: {{enabled: true, target_epsilon: {epsilon:g}}}}}"
    )


def _row(app: str, target: float, report: dict, seconds: float) -> str:
    p = report["privacy"]
    metric = report["headline"]["metric"]
    cost = p["cost"]

    def ci(name: str) -> str:
        c = cost[name]
        return f"{c['estimate']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]"

    return (
        f"| {app} | {target:g} | {p['epsilon']:.2f} | {p['delta']:.1e} | "
        f"{p['noise_multiplier']:.2f} | {p['steps']} | {p['n_train']} | "
        f"{p['private']['accuracy']:.3f} | {p['non_private']['accuracy']:.3f} | "
        f"{ci('accuracy')} | "
        + (f"{metric} {ci(metric)}" if metric != "accuracy" else "(accuracy)")
        + f" | {seconds:.0f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 4.0, 8.0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pretrain-steps", type=int, default=None)
    add_overrides(parser, "finetune.sentiment.epochs=2")
    args = parser.parse_args()
    command = "python bench/privacy.py" + "".join(
        [
            f" --epsilons {' '.join(f'{e:g}' for e in args.epsilons)}"
            if args.epsilons != [1.0, 4.0, 8.0]
            else "",
            f" --scale {args.scale:g}" if args.scale != 1.0 else "",
            f" --seed {args.seed}" if args.seed else "",
            f" --pretrain-steps {args.pretrain_steps}" if args.pretrain_steps else "",
            "".join(f" --set {s}" for s in args.set),
        ]
    )
    print(header("DP-SGD fine-tunes on the demo world: ε spent and accuracy cost", command))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("karpa_models.finetune.private").setLevel(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        from karpa.config import load_config
        from karpa.demo import generate_world
        from karpa.finetuning import run_application
        from karpa.pretraining.stage import pretrain_foundation
        from karpa.store import Store

        world = Path(tmp) / "world"
        generate_world(world, scale=args.scale, seed=args.seed)
        base = ["until=finetune", "pretrain.progress=false", *args.set]
        if args.pretrain_steps:
            base.append(f"pretrain.steps={args.pretrain_steps}")
        cfg = load_config(CONFIGS / "demo.yaml", base, str(world))
        store = Store(Path(tmp) / "store")
        started = time.perf_counter()
        views = direct_views(cfg, store)
        foundation = pretrain_foundation(views, cfg.pretrain, cfg.seed, store)
        print(
            f"# world scale {args.scale:g}, seed {args.seed}; foundation: {foundation.steps} "
            f"pretraining steps ({cfg.pretrain.preset} preset), "
            f"{time.perf_counter() - started:.0f} s with ingest, validate and align"
        )
        print(
            "\n| application | target ε | ε spent | δ | noise σ | DP steps | n_train | "
            "accuracy, private | accuracy, non-private | accuracy cost (95% CI) | "
            "headline cost (95% CI) | fine-tune time |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for app in APPS:
            for epsilon in args.epsilons:
                run_cfg = load_config(
                    CONFIGS / "demo.yaml", [*base, _settings(app, epsilon)], str(world)
                )
                began = time.perf_counter()
                manifest = run_application(app, views, foundation, run_cfg.finetune, store)
                report = json.loads(Path(manifest.report).read_text())
                print(_row(app, epsilon, report, time.perf_counter() - began), flush=True)
        print(
            "\nCost = non-private minus private on the same test examples (paired bootstrap); "
            "δ = 1 / (10 n_train); ε over every DP step taken (RDP accountant)."
        )


if __name__ == "__main__":
    main()
