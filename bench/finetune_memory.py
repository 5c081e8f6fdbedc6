"""What bounds a text fine-tune's memory, and what it costs: peak resident memory and
samples/s of karpa's full fine-tune of an intent classifier on Banking77's longest training
messages, with activation checkpointing (`finetune.<app>.activation_checkpointing`) off and
on and glibc's mmap threshold left to glibc or fixed (`mmap_threshold_mb`), side by side.

A fine-tune's peak is its step on the longest batch (batches group messages of similar
length), so every step here is one: the `--messages` longest training messages, in
batches of 32 (the recipe's). The encoder is the small preset's from random weights or an
offline pretrained start (`--text-init minilm` or `mpnet`, bench/_starts.py); each run is
a fresh process (a process's peak only grows), and the settings alternate over the rounds
(bench/pretrain_memory.py's driver), medians printed with their ratios to the first
setting. samples/s is the whole fine-tune's
(training examples seen per second, its validations on one batch included).

    .venv/bin/python bench/finetune_memory.py --text-init minilm \\
        --settings off:8 on:8 off:glibc on:glibc --steps 8 --rounds 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header
from pretrain_memory import memory_arguments, side_by_side

BATCH = 32  # the text applications' batch size (karpa/applications/text_config.py)


def child(args: argparse.Namespace, setting: tuple[bool, int | None]) -> dict[str, float]:
    """One fine-tune in this process -> its peak RSS (MB), RSS before it, and samples/s."""
    import pandas as pd
    import torch

    from karpa.allocators import fix_mmap_threshold
    from karpa_models.config import load_preset
    from karpa_models.finetune.classifier import train_classifier
    from karpa_models.finetune.config import ClassifierConfig
    from karpa_models.finetune.scratch import scratch_foundation

    on, mb = setting
    if mb is not None:
        fix_mmap_threshold(mb)  # as a run with `mmap_threshold_mb` does, where it starts
    torch.set_num_threads(args.threads)
    train = pd.read_csv(args.datasets / "banking77" / "train.csv")
    longest = train.loc[train["text"].str.len().sort_values(ascending=False).index]
    texts, labels = longest["text"].tolist(), longest["category"].astype(str).tolist()
    model_cfg, _ = load_preset(args.preset)
    if args.text_init != "random":
        from _starts import chosen_start

        from karpa_models.hf_text import pretrained_tokenizer
        from karpa_models.model import build_model

        _, folder = chosen_start(args.text_init)
        model_cfg = dataclasses.replace(model_cfg, text_init=str(folder))
        foundation = build_model(model_cfg)
        foundation.set_tokenizer(pretrained_tokenizer(model_cfg.text_init))
        tokenizer = foundation.tokenizer
    else:
        foundation, tokenizer = scratch_foundation(model_cfg, train["text"].tolist(), seed=0)
    n = args.messages
    cfg = ClassifierConfig(
        mode="full",
        epochs=10**6,  # the step count decides
        max_steps=args.steps,
        batch_size=BATCH,
        patience=10**6,
        device="cpu",
        precision="fp32",
        activation_checkpointing=on,
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Validation on the first batch: the loop needs one; the steps are what is measured.
    clf = train_classifier(
        foundation, tokenizer, texts[:n], labels[:n], texts[:BATCH], labels[:BATCH], cfg
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seen = clf.train_info["steps"] * BATCH
    return {"peak_mb": peak, "before_mb": before, "samples_per_s": seen / clf.train_info["seconds"]}


def main() -> None:
    parser = memory_arguments(__doc__.split("\n")[0], text_init="minilm")
    parser.add_argument("--messages", type=int, default=256, help="the longest N messages")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args, args.child)))
        return
    if not (args.datasets / "banking77" / "train.csv").is_file():
        raise SystemExit(f"no banking77/train.csv under {args.datasets}")
    if args.steps < 1 or args.messages < BATCH:
        raise SystemExit(f"--steps must be >= 1 and --messages >= {BATCH}")
    command = "python bench/finetune_memory.py " + " ".join(sys.argv[1:])
    print(header("a text fine-tune's memory: activation checkpointing and mmap threshold", command))
    print(
        f"# preset {args.preset}, text tower from {args.text_init}, full fine-tune on the "
        f"{args.messages} longest Banking77 training messages, {args.steps} steps of {BATCH} "
        f"per run, {args.rounds} rounds, {args.threads} torch threads, CPU",
        flush=True,
    )
    side_by_side(__file__, args, "messages")


if __name__ == "__main__":
    main()
