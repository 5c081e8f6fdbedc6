"""Peak memory and wall time of the data stages (ingest -> validate -> align) at 1x and
10x the demo world, in one process and on a local Dask cluster.

Each run is a fresh subprocess (bench/_scale_run.py); its peak resident memory is that of
the whole process tree — the Dask scheduler, nannies and workers included — sampled every
50 ms. The Dask runs use karpa's own pieces (the local cluster of `engine: dask`, the
partitioned validation with `dask.partition_rows` and `dask.partition_mb` from the config)
without Prefect, so the figures are the data stages' own, not the orchestration's. Both
ways must give the same validated tables and views (the fingerprints are compared).

    python bench/scale.py                      # scales 1 and 10, 2 workers
    python bench/scale.py --scales 1 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header

from karpa.config import CONFIGS

ROOT = Path(__file__).resolve().parents[1]
RUN = Path(__file__).resolve().parent / "_scale_run.py"


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # ended between listing and reading
            total += p.memory_info().rss
    return total


def measure(args: list[str]) -> dict:
    """Run one measured run; its JSON line plus `peak_mb` of the whole process tree."""
    child = subprocess.Popen(
        [sys.executable, str(RUN), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        process = psutil.Process(child.pid)
        while not done.is_set():
            try:
                peak = max(peak, _tree_rss(process))
            except psutil.Error:
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    done.set()
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args[:1])} run failed:\n{err[-3000:]}")
    return {**json.loads(out.strip().splitlines()[-1]), "peak_mb": peak / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from karpa.demo import generate_world

    command = "python bench/scale.py"
    if args.scales != [1.0, 10.0]:
        command += " --scales " + " ".join(f"{s:g}" for s in args.scales)
    if args.workers != 2:
        command += f" --workers {args.workers}"
    print(header("data stages (ingest + validate + align): one process vs Dask", command))
    print(
        f"{'scale':>5} {'rows':>10} {'engine':<14} {'seconds':>8} {'peak MB':>8} "
        f"{'time dask/single':>17}"
    )
    config = str(CONFIGS / "demo.yaml")
    peaks: dict[str, dict[float, float]] = {"single": {}, "dask": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for scale in args.scales:
            data = Path(tmp) / f"world-{scale:g}"
            generate_world(data, scale=scale, seed=0)
            single = measure(["single", config, str(data), f"{tmp}/single-{scale:g}"])
            dask = measure(["dask", config, str(data), f"{tmp}/dask-{scale:g}", str(args.workers)])
            if (single["validated"], single["views"]) != (dask["validated"], dask["views"]):
                raise SystemExit(f"scale {scale:g}: the two ways gave different outputs")
            rows = sum(c["rows_in"] for c in single["counts"].values())
            for name, r in (("single", single), (f"dask {args.workers} workers", dask)):
                ratio = dask["seconds"] / single["seconds"]
                print(
                    f"{scale:>5g} {rows:>10,} {name:<14} {r['seconds']:>8.1f} "
                    f"{r['peak_mb']:>8.0f} {ratio if name != 'single' else 1:>17.2f}"
                )
            peaks["single"][scale] = single["peak_mb"]
            peaks["dask"][scale] = dask["peak_mb"]
            shutil.rmtree(data, ignore_errors=True)  # the next world needs the disk
    if len(args.scales) > 1:
        low, high = min(args.scales), max(args.scales)
        for name, by_scale in peaks.items():
            print(
                f"peak memory {name}, scale {high:g} / scale {low:g}: "
                f"{by_scale[high] / by_scale[low]:.2f} (target <= 1.5)"
            )


if __name__ == "__main__":
    main()
