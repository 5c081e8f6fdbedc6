"""What bounds pretraining's memory, and what it costs: peak resident memory and samples/s
of karpa's pretraining loop with activation checkpointing (`pretrain.activation_checkpointing`)
off and on, and glibc's mmap threshold left to glibc or fixed (`mmap_threshold_mb`,
karpa/allocators.py), side by side on the same work.

Each run is a fresh process (a process's peak memory only grows), training a preset for a
few steps on the synthetic multimodal corpus or on Banking77's training messages, from
random weights or from an offline pretrained start (`--text-init minilm` or `mpnet`,
bench/_starts.py); the settings alternate over the rounds, so drift on a shared machine
hits them all, and the medians are printed with their ratios to the first setting.

    .venv/bin/python bench/pretrain_memory.py [--preset small] [--steps 8] [--rounds 2]
    .venv/bin/python bench/pretrain_memory.py --corpus banking77 --text-init minilm \\
        --settings off:glibc on:glibc on:16 on:4 --steps 3
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATASETS, header
from _starts import STARTS_BY_NAME, chosen_start

from karpa.allocators import MAX_MMAP_THRESHOLD_MB


def parse_setting(text: str) -> tuple[bool, int | None]:
    """'on:16' -> (checkpointing on, threshold 16 MiB); 'off:glibc' -> (off, glibc's own)."""
    ckpt, _, threshold = text.partition(":")
    mb = None if threshold == "glibc" else int(threshold) if threshold.isdigit() else -1
    if ckpt not in ("on", "off") or not (mb is None or 1 <= mb <= MAX_MMAP_THRESHOLD_MB):
        raise argparse.ArgumentTypeError(
            f"setting {text!r}: CHECKPOINTING:THRESHOLD, as on:glibc, off:16 or on:4 "
            f"(a threshold of 1 to {MAX_MMAP_THRESHOLD_MB} MiB)"
        )
    return ckpt == "on", mb


def name(setting: tuple[bool, int | None]) -> str:
    on, mb = setting
    return f"{'on' if on else 'off'}:{'glibc' if mb is None else mb}"


def child(args: argparse.Namespace, setting: tuple[bool, int | None]) -> dict[str, float]:
    """One pretraining run in this process -> its peak RSS (MB) and samples/s."""
    import torch

    from karpa.allocators import fix_mmap_threshold
    from karpa_models.config import load_preset
    from karpa_models.corpus import PretrainCorpus
    from karpa_models.pretraining import pretrain
    from karpa_models.synthetic import synthetic_corpus

    on, mb = setting
    if mb is not None:
        fix_mmap_threshold(mb)  # as a run with `mmap_threshold_mb` does, where it starts
    torch.set_num_threads(args.threads)
    if args.corpus == "banking77":
        import pandas as pd

        texts = pd.read_csv(args.datasets / "banking77" / "train.csv")["text"].tolist()
        corpus = PretrainCorpus(texts=texts)
    else:
        corpus = synthetic_corpus(seed=0, n_texts=2000, n_captions=2000, n_items=500, n_users=400)
    model_cfg, train_cfg = load_preset(args.preset)
    if args.text_init != "random":
        _, folder = chosen_start(args.text_init)
        model_cfg = dataclasses.replace(model_cfg, text_init=str(folder))
    train_cfg = dataclasses.replace(
        train_cfg,
        steps=args.steps,
        log_every=10**9,
        checkpoint_every=10**9,
        content_refresh_every=10**9,
        progress=False,
        activation_checkpointing=on,
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as out:
        result = pretrain(corpus, model_cfg, train_cfg, out, resume=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"peak_mb": peak, "before_mb": before, "samples_per_s": result.samples_per_s}


def memory_arguments(description: str, text_init: str) -> argparse.ArgumentParser:
    """The options the memory benches share (preset, text start, settings, steps, rounds,
    threads, datasets, and the hidden --child of each run's process)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--preset", default="small")
    parser.add_argument(
        "--text-init",
        choices=["random", *sorted(STARTS_BY_NAME)],
        default=text_init,
        help="the text tower's start: random weights or a pretrained start of bench/_starts.py "
        "(mpnet: `make bench-mpnet` unpacks it first)",
    )
    parser.add_argument(
        "--settings",
        nargs="+",
        type=parse_setting,
        default=[(False, None), (True, None)],
        help="CHECKPOINTING:THRESHOLD pairs, as off:glibc on:glibc on:16 (default: "
        "checkpointing off and on, glibc's threshold)",
    )
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--datasets", type=Path, default=SHARED_DATASETS)
    parser.add_argument("--child", type=parse_setting, help=argparse.SUPPRESS)
    return parser


def main() -> None:
    parser = memory_arguments(__doc__.split("\n")[0], text_init="random")
    parser.add_argument("--corpus", choices=["synthetic", "banking77"], default="synthetic")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args, args.child)))
        return
    if args.corpus == "banking77" and not (args.datasets / "banking77" / "train.csv").is_file():
        raise SystemExit(f"--corpus banking77: no banking77/train.csv under {args.datasets}")
    command = "python bench/pretrain_memory.py " + " ".join(sys.argv[1:])
    print(header("pretraining's memory: activation checkpointing and mmap threshold", command))
    print(
        f"# preset {args.preset}, {args.corpus} corpus, text tower from {args.text_init}, "
        f"{args.steps} steps per run (samples/s after the first), {args.rounds} rounds, "
        f"{args.threads} torch threads, CPU",
        flush=True,
    )
    side_by_side(__file__, args, "corpus")


# What every run's process is told again (memory_arguments' options; --settings and
# --rounds are the parent's).
FORWARDED = ("preset", "text_init", "steps", "threads", "datasets")


def side_by_side(script: str, args: argparse.Namespace, *extra: str) -> None:
    """Run `script --child SETTING` with the parent's FORWARDED options and `extra` ones
    for each of args.settings, args.rounds times alternating; print the medians of what
    the children print (peak_mb, before_mb, samples_per_s) with their ratios to the first
    setting."""
    settings = args.settings
    shared = [
        part
        for key in (*FORWARDED, *extra)
        for part in (f"--{key.replace('_', '-')}", str(getattr(args, key)))
    ]
    runs: dict[str, list[dict[str, float]]] = {name(s): [] for s in settings}
    for _ in range(args.rounds):
        for setting in settings:
            out = subprocess.run(
                [sys.executable, script, "--child", name(setting), *shared],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs[name(setting)].append(json.loads(out.strip().splitlines()[-1]))
    med = {k: {f: statistics.median(r[f] for r in rs) for f in rs[0]} for k, rs in runs.items()}
    first = med[name(settings[0])]
    print(
        "| activation checkpointing | mmap threshold | peak MB | MB before training | "
        "samples/s | peak / first | samples/s / first |"
    )
    print("|---|---|---|---|---|---|---|")
    for setting in settings:
        m = med[name(setting)]
        on, mb = setting
        print(
            f"| {'on' if on else 'off'} | {'glibc' if mb is None else f'{mb} MiB'} | "
            f"{m['peak_mb']:,.0f} | {m['before_mb']:,.0f} | {m['samples_per_s']:.1f} | "
            f"{m['peak_mb'] / first['peak_mb']:.2f} | "
            f"{m['samples_per_s'] / first['samples_per_s']:.2f} |"
        )


if __name__ == "__main__":
    main()
