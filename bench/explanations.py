"""Are the explanations faithful, and what do they cost? Runs the pipeline up to the
fine-tunes (tiny preset, CPU) on the demo world, or on a real preset, and prints per text
application the deletion test's area between the curves (random minus most-attributed
tokens removed, predicted-class probability, mean over k = 1..max_k) with its 95%
bootstrap interval, both mean curves, and the seconds explanations added to evaluation.

    .venv/bin/python bench/explanations.py                       # demo world, seed 0
    .venv/bin/python bench/explanations.py --config configs/real/banking77.yaml \\
        --data ../shared/datasets/banking77 --set pretrain.steps=300
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_overrides, flow_home, header

from karpa.config import CONFIGS

TEXT_APPS = ("intent", "sentiment")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=None, help="a run config (default: the demo)")
    parser.add_argument("--data", default=None, help="its data folder (default: a new world)")
    parser.add_argument("--seed", type=int, default=0, help="demo world seed")
    parser.add_argument("--scale", type=float, default=1.0, help="demo world scale")
    add_overrides(parser, "finetune.intent.epochs=2")
    parser.add_argument(
        "--direct", action="store_true", help="call the stages directly (no Prefect, no MLflow)"
    )
    args = parser.parse_args()
    command = "python bench/explanations.py" + "".join(
        [
            f" --config {args.config}" if args.config else "",
            f" --data {args.data}" if args.data else "",
            f" --seed {args.seed}" if args.seed else "",
            f" --scale {args.scale:g}" if args.scale != 1.0 else "",
            "".join(f" --set {s}" for s in args.set),
            " --direct" if args.direct else "",
        ]
    )
    print(header("karpa explanations: deletion-test faithfulness and cost", command))
    with tempfile.TemporaryDirectory() as tmp:
        flow_home(Path(tmp) / "home")
        from flows.retrain import retrain

        data = args.data
        if data is None:
            from karpa.demo import generate_world

            data = str(Path(tmp) / "world")
            generate_world(Path(data), scale=args.scale, seed=args.seed)
        config = args.config or str(CONFIGS / "demo.yaml")
        started = time.perf_counter()
        overrides = ["pretrain.progress=false", "until=finetune", *args.set]
        if args.direct:
            reports = _direct(config, str(Path(data).resolve()), overrides, Path(tmp) / "store")
        else:
            result = retrain(config=config, data=str(Path(data).resolve()), overrides=overrides)
            reports = {app: entry["report"] for app, entry in result["finetune"].items()}
        print(f"\npipeline up to the fine-tunes: {time.perf_counter() - started:.0f} s")
        for app in TEXT_APPS:
            if app not in reports:
                continue
            report = json.loads(Path(reports[app]).read_text())
            area = report["intervals"].get("deletion_area")
            if area is None:
                print(f"\n## {app}: no explanations (explain_examples = 0 or a baseline won)")
                continue
            timings = report["timings"]
            print(f"\n## {app} ({report['model_name']}, {report['protocol']['explanations']})")
            print(
                f"deletion-test area {area['estimate']:.3f} "
                f"[{area['low']:.3f}, {area['high']:.3f}] ({area['confidence']:.0%} bootstrap, "
                f"{area['n_resamples']} resamples)"
            )
            print(_curves(report["explanations"]))
            print(
                f"explanations added {timings['explain_s']:.1f} s to an evaluation of "
                f"{timings['total_s']:.1f} s ({timings['explain_s'] / timings['total_s']:.0%})"
            )


def _direct(config: str, data: str, overrides: list[str], store_root: Path) -> dict[str, str]:
    """ingest -> validate -> align -> pretrain -> the text fine-tunes, stage functions
    called directly; -> application -> report.json path."""
    from _common import direct_views

    from karpa.config import load_config
    from karpa.finetuning import run_application
    from karpa.pretraining.stage import pretrain_foundation
    from karpa.store import Store

    cfg = load_config(Path(config), overrides, data)
    store = Store(store_root)
    views = direct_views(cfg, store)
    foundation = pretrain_foundation(views, cfg.pretrain, cfg.seed, store)
    return {
        app: run_application(app, views, foundation, cfg.finetune, store).report
        for app in TEXT_APPS
    }


def _curves(explained: dict) -> str:
    """The mean curves of the deletion test, one row per k."""
    top, random = explained["top_curve"], explained["random_curve"]
    rows = ["k  attributed-removed  random-removed"]
    rows += [f"{k}  {t:.3f}  {r:.3f}" for k, (t, r) in enumerate(zip(top, random, strict=True))]
    return "\n".join(rows)


if __name__ == "__main__":
    main()
