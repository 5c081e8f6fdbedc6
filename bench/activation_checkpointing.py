"""What activation checkpointing (`pretrain.activation_checkpointing`) buys and costs:
peak resident memory and samples/s of karpa's pretraining loop with it off and on, side by
side on the same work.

Each run is a fresh process (a process's peak memory only grows), training a preset on
the synthetic multimodal corpus for a few steps; the settings alternate over the rounds,
so drift on a shared machine hits both, and the medians are printed with their ratios.

    .venv/bin/python bench/activation_checkpointing.py [--preset small] [--steps 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header

SETTINGS = (False, True)


def child(preset: str, steps: int, on: bool, threads: int) -> dict[str, float]:
    """One pretraining run in this process -> its peak RSS (MB) and samples/s."""
    import torch

    from karpa_models.config import load_preset
    from karpa_models.pretraining import corpus_texts, pretrain
    from karpa_models.synthetic import synthetic_corpus
    from karpa_models.tokenizer import train_tokenizer

    torch.set_num_threads(threads)
    corpus = synthetic_corpus(seed=0, n_texts=2000, n_captions=2000, n_items=500, n_users=400)
    model_cfg, train_cfg = load_preset(preset)
    train_cfg = dataclasses.replace(
        train_cfg,
        steps=steps,
        log_every=10**9,
        checkpoint_every=10**9,
        content_refresh_every=10**9,
        progress=False,
        activation_checkpointing=on,
    )
    tokenizer = train_tokenizer(corpus_texts(corpus), model_cfg.text.vocab_size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as out:
        result = pretrain(corpus, model_cfg, train_cfg, out, resume=False, tokenizer=tokenizer)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"peak_mb": peak, "before_mb": before, "samples_per_s": result.samples_per_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--child", choices=["off", "on"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = child(args.preset, args.steps, args.child == "on", args.threads)
        print(json.dumps(figures))
        return
    command = "python bench/activation_checkpointing.py " + " ".join(sys.argv[1:])
    print(header("pretraining with and without activation checkpointing", command))
    print(
        f"# preset {args.preset}, synthetic corpus, {args.steps} steps per run (samples/s "
        f"after the first), {args.rounds} rounds, {args.threads} torch threads, CPU"
    )
    runs: dict[bool, list[dict[str, float]]] = {on: [] for on in SETTINGS}
    for _ in range(args.rounds):
        for on in SETTINGS:
            flags = ["--child", "on" if on else "off", "--preset", args.preset]
            flags += ["--steps", str(args.steps), "--threads", str(args.threads)]
            out = subprocess.run(
                [sys.executable, __file__, *flags],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs[on].append(json.loads(out.strip().splitlines()[-1]))
    med = {on: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for on, rs in runs.items()}
    print("| activation checkpointing | peak MB | MB before training | samples/s |")
    print("|---|---|---|---|")
    for on in SETTINGS:
        m = med[on]
        print(
            f"| {'on' if on else 'off'} | {m['peak_mb']:,.0f} | {m['before_mb']:,.0f} | "
            f"{m['samples_per_s']:.1f} |"
        )
    off, on = med[False], med[True]
    training = (on["peak_mb"] - on["before_mb"]) / (off["peak_mb"] - off["before_mb"])
    speed = on["samples_per_s"] / off["samples_per_s"]
    print(
        f"on / off: peak memory {on['peak_mb'] / off['peak_mb']:.2f}, training's share "
        f"(peak - before) {training:.2f}, throughput {speed:.2f}"
    )


if __name__ == "__main__":
    main()
