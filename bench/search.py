"""Does the search find a better trade-off than the `tiny` preset? On a generated demo
world: an architecture search within a stated CPU budget (validation only), its knee saved
as a preset, then a full retrain of that preset and of `tiny` (each preset's own
pretraining length) fine-tuning intent, compared on the test split: accuracy with its 95%
interval, CPU latency of one request (p50/p95, one thread, the served model) and size.

    .venv/bin/python bench/search.py                                   # 30 min search
    .venv/bin/python bench/search.py --scale 0.5 --budget-minutes 10   # a shorter look

Pure stage functions (no Prefect, no MLflow): the figures are the search's and the
model's, not the orchestration's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_overrides, direct_views, header

ROOT = Path(__file__).resolve().parents[1]


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--scale", type=float, default=1.0, help="demo world scale")
    p.add_argument("--seed", type=int, default=0, help="demo world seed")
    p.add_argument("--budget-minutes", type=float, default=30.0)
    p.add_argument("--trials", type=int, default=60)
    p.add_argument("--pretrain-steps", type=int, default=120, help="pretraining per trial")
    p.add_argument("--finetune-steps", type=int, default=80, help="fine-tuning per trial")
    p.add_argument(
        "--retrain-steps",
        type=int,
        help="pretraining of the confirming retrains (default: each preset's own)",
    )
    add_overrides(p, "pretrain.steps=100")
    return p.parse_args()


def _command(a: argparse.Namespace) -> str:
    parts = ["python bench/search.py"]
    for name in ("scale", "seed", "budget_minutes", "trials", "pretrain_steps", "finetune_steps"):
        parts.append(f"--{name.replace('_', '-')} {getattr(a, name):g}")
    if a.retrain_steps:
        parts.append(f"--retrain-steps {a.retrain_steps}")
    parts += [f"--set {s}" for s in a.set]
    return " ".join(parts)


def _retrain(cfg, views, store, preset: str, steps: int | None) -> dict:
    """Pretrain the preset in full, fine-tune and evaluate intent; -> the figures."""
    from karpa.finetuning import run_application
    from karpa.pretraining.stage import pretrain_foundation
    from karpa_models.pretraining import load_foundation

    pre = cfg.pretrain.model_copy(update={"preset": preset, "steps": steps})
    started = time.perf_counter()
    foundation = pretrain_foundation(views, pre, cfg.seed, store)
    app = run_application("intent", views, foundation, cfg.finetune, store)
    seconds = time.perf_counter() - started
    report = json.loads(Path(app.report).read_text())
    model, _, _ = load_foundation(foundation.checkpoint)
    return {
        "headline": app.headline,
        "tfidf": report.get("comparisons", {}).get("tfidf_lr", {}).get("headline"),
        "model_dir": Path(app.model_dir),
        "params": sum(p.numel() for p in model.parameters()),
        "steps": foundation.steps,
        "seconds": seconds,
    }


def _side_by_side_latency(model_dirs: list[Path], texts: list[str], rounds: int) -> list[dict]:
    """Each model's p50/p95 over `rounds` alternating rounds of 200 requests (the median of
    the rounds), so that both see the same machine: on a shared CPU a model timed alone, ten
    minutes after the other, would carry the load of that moment."""
    import statistics

    from karpa.search.objectives import classifier_latency

    per_round: list[list[dict]] = [[] for _ in model_dirs]
    for _ in range(rounds):
        for i, d in enumerate(model_dirs):
            per_round[i].append(classifier_latency(d, texts, 200))
    return [
        {k: statistics.median(r[k] for r in rs) for k in ("latency_p50", "latency_p95")}
        for rs in per_round
    ]


def _val_texts(views) -> list[str]:
    import pandas as pd

    frame = pd.read_parquet(Path(views.path) / "messages.parquet")
    return frame.loc[frame["split"] == "val", "text"].head(50).tolist()


def main() -> None:
    a = _args()
    print(header("architecture search on the demo world, confirmed on test", _command(a)))
    with tempfile.TemporaryDirectory() as tmp:
        from karpa.home import activate

        activate(Path(tmp) / "home")
        from karpa.config import load_config
        from karpa.demo import generate_world
        from karpa.search.budget import check_budget
        from karpa.search.front import front_table
        from karpa.search.preset import KNEE_RULE, knee, save_preset
        from karpa.search.study import default_storage, run_search
        from karpa.store import Store

        world = Path(tmp) / "world"
        generate_world(world, scale=a.scale, seed=a.seed)
        overrides = [
            f"search.trials={a.trials}",
            f"search.budget_minutes={a.budget_minutes}",
            f"search.pretrain_steps={a.pretrain_steps}",
            f"search.finetune_steps={a.finetune_steps}",
            "pretrain.progress=false",
            *a.set,
        ]
        cfg = load_config("demo", overrides, data_root=str(world))
        store = Store(Path(tmp) / "store")
        views = direct_views(cfg, store)
        check_budget(cfg)
        started = time.perf_counter()
        result = run_search(cfg, Path(views.path), Path(tmp) / "work", default_storage(tmp))
        minutes = (time.perf_counter() - started) / 60
        states = [r.state for r in result.records]
        print(
            f"\n## search: {len(states)} trials in {minutes:.1f} min (budget "
            f"{a.budget_minutes:g} min): {states.count('complete')} complete, "
            f"{states.count('pruned')} pruned, {states.count('failed')} failed"
        )
        chosen = knee(result.records, result.objectives, result.directions)
        print(front_table(result.records, result.objectives, result.directions, chosen.number))
        print(f"knee: trial {chosen.number} ({KNEE_RULE})")
        path = save_preset(
            "searched", Path(tmp) / "presets", cfg, chosen, result.study, KNEE_RULE, "bench"
        )

        print("\n## confirmed by a full retrain, intent on the test split")
        print(
            "| preset | pretrain steps | parameters | test accuracy [95% CI] | "
            "TF-IDF+LR | latency p50 / p95 (ms, median of 5 alternating rounds) | retrain s |"
        )
        print("|---|---|---|---|---|---|---|")
        names = ("tiny", "searched (knee)")
        runs = [_retrain(cfg, views, store, p, a.retrain_steps) for p in ("tiny", str(path))]
        texts = [str(t) for t in _val_texts(views)]
        latencies = _side_by_side_latency([r["model_dir"] for r in runs], texts, 5)
        for name, r, lat in zip(names, runs, latencies, strict=True):
            r["latency"] = lat
            h, t = r["headline"], r["tfidf"]
            base = f"{t['estimate']:.3f}" if t else "-"
            print(
                f"| {name} | {r['steps']} | {r['params']:,} | {h['estimate']:.3f} "
                f"[{h['low']:.3f}, {h['high']:.3f}] | {base} | "
                f"{r['latency']['latency_p50']:.2f} / {r['latency']['latency_p95']:.2f} | "
                f"{r['seconds']:.0f} |"
            )


if __name__ == "__main__":
    main()
