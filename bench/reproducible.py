"""Does one command give the same foundation twice on this CPU? And what does it cost?

Pretrains the demo world's views twice from the same config in one process and compares
the two foundations tensor by tensor, once with the CPU runtime as it is (PyTorch's
deterministic kernels on: karpa_models/runtime.py) and once with them left off (the
runtime's switch replaced by a no-op for that setting), each pretraining timed. The views
are built once and shared; torch runs with --threads threads (2: where thread order
showed).

    .venv/bin/python bench/reproducible.py
    .venv/bin/python bench/reproducible.py --steps 20 --scale 0.3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import direct_views, header

from karpa.config import CONFIGS, load_config
from karpa.home import activate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    command = "python bench/reproducible.py " + " ".join(sys.argv[1:])
    print(header("the same foundation twice on CPU", command.strip()), flush=True)

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="karpa-bench-repro-") as tmp:
        activate(Path(tmp) / "home")
        from karpa.demo import generate_world
        from karpa.store import Store

        world = Path(tmp) / "world"
        generate_world(world, scale=args.scale, seed=0)
        overrides = [f"pretrain.steps={args.steps}", "pretrain.progress=false"]
        cfg = load_config(CONFIGS / "demo.yaml", overrides, data_root=str(world))
        views = direct_views(cfg, Store(Path(tmp) / "views"))
        print(
            "| deterministic kernels | tensors that differ | largest difference | "
            "seconds per pretraining |"
        )
        print("|---|---|---|---|")
        for deterministic in (True, False):
            runs = [
                pretrain_once(views, cfg, Path(tmp) / f"{deterministic}-{i}", deterministic)
                for i in range(2)
            ]
            (a, first), (b, second) = runs
            differ = [k for k in a if not torch.equal(a[k], b[k])]
            largest = max(((a[k] - b[k]).abs().max().item() for k in differ), default=0.0)
            print(
                f"| {'on' if deterministic else 'off'} | {len(differ)} of {len(a)} | "
                f"{largest:.2e} | {first:.0f}, {second:.0f} |",
                flush=True,
            )


def pretrain_once(views, cfg, store: Path, deterministic: bool):
    """-> (the foundation's weights, seconds) of one pretraining into its own store."""
    import torch

    from karpa.pretraining.stage import pretrain_foundation
    from karpa.store import Store

    switch = torch.use_deterministic_algorithms
    if not deterministic:
        torch.use_deterministic_algorithms(False)
        torch.use_deterministic_algorithms = lambda *a, **k: None  # the runtime's call
    try:
        started = time.perf_counter()
        foundation = pretrain_foundation(views, cfg.pretrain, cfg.seed, Store(store))
        seconds = time.perf_counter() - started
    finally:
        torch.use_deterministic_algorithms = switch
    state = torch.load(foundation.checkpoint, map_location="cpu", weights_only=False)
    return state["model"], seconds


if __name__ == "__main__":
    main()
