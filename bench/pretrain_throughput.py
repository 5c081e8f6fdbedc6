"""Throughput of karpa's pretraining loop next to a bare PyTorch loop on the same work.

Both loops train the same architecture on the same mixed batches with the same AdamW.
karpa's loop additionally builds each batch on the fly (masking, cropping), clips
gradients, steps the schedule, checks every loss for NaN, averages metrics and logs; the
bare loop replays batches built beforehand and does forward, backward, step and nothing
else. The ratio is what that machinery costs (target >= 0.9). The first step of every run
is excluded (allocation, warm-up), and so is checkpoint writing.

    .venv/bin/python bench/pretrain_throughput.py [--preset tiny] [--steps 40] [--threads 1]

On CUDA it also reports bf16 (the default there) against fp32 and the model FLOPs
utilisation of the bf16 run, from a 6 * parameters * tokens estimate plus attention.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from karpa_models.batches import PretrainBatches
from karpa_models.config import ModelConfig, TrainConfig, load_preset
from karpa_models.engine import build_optimizer
from karpa_models.model import build_model
from karpa_models.pretrain_step import PretrainStep
from karpa_models.pretraining import concrete_model_config, corpus_texts, pretrain
from karpa_models.runtime import init_runtime
from karpa_models.synthetic import synthetic_corpus
from karpa_models.tokenizer import train_tokenizer

# Dense bf16 tensor-core peaks (FLOP/s) by device name, for model FLOPs utilisation.
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12}


def bare_loop(corpus, tokenizer, model_cfg: ModelConfig, train_cfg: TrainConfig) -> float:
    """samples/s of forward + backward + AdamW step over pre-built batches, nothing else."""
    rt = init_runtime(train_cfg.device, train_cfg.precision)
    cfg = concrete_model_config(model_cfg, tokenizer, corpus)
    torch.manual_seed(train_cfg.seed)
    model = build_model(cfg)
    data = PretrainBatches(corpus, tokenizer, cfg, train_cfg)
    step = PretrainStep(model, train_cfg, data.active).to(rt.device).train()
    opt = build_optimizer(step, train_cfg, rt.device)
    batches = []
    for i in range(train_cfg.steps):
        b = data[i]
        n = int(b.pop("n_samples"))
        b.pop("n_tokens")
        batches.append((n, {k: v.to(rt.device) for k, v in b.items()}))
    samples, seconds = 0, 0.0
    for i, (n, batch) in enumerate(batches):
        _sync(rt.device)
        t = time.perf_counter()
        with rt.autocast():
            total, _, _ = step(batch)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        _sync(rt.device)
        if i > 0:  # the first step is warm-up, as in karpa's own count
            samples += n
            seconds += time.perf_counter() - t
    return samples / seconds


def karpa_loop(corpus, tokenizer, model_cfg, train_cfg) -> tuple[float, float]:
    """(samples/s, tokens/s) as measured by karpa's own training loop."""
    with tempfile.TemporaryDirectory() as out:
        result = pretrain(corpus, model_cfg, train_cfg, out, resume=False, tokenizer=tokenizer)
    return result.samples_per_s, result.tokens_per_s


def step_flops(corpus, tokenizer, model_cfg, train_cfg) -> tuple[float, int]:
    """(training FLOPs, samples) of one step: 6 * (matrix parameters) * positions per tower
    pass, plus attention (QK^T and AV: 4 * T^2 * C per layer per sequence, x3 for backward)."""
    cfg = concrete_model_config(model_cfg, tokenizer, corpus)
    model = build_model(cfg)
    batch = PretrainBatches(corpus, tokenizer, cfg, train_cfg)[1]

    def matrix_params(module) -> int:
        return sum(
            p.numel() for n, p in module.named_parameters() if p.ndim == 2 and "emb" not in n
        )

    def tower(module, layers: int, width: int, mask: torch.Tensor) -> float:
        B, T = mask.shape
        return 6 * matrix_params(module) * B * T + 3 * 4 * layers * B * T * T * width

    image_mask = torch.ones(1, model.image.n_patches)
    flops = 0.0
    t, i, b = cfg.text, cfg.image, cfg.behaviour
    for key in ("text_a_mask", "text_b_mask", "pair_mask", "item_mask"):  # two text views
        if key in batch:
            flops += tower(model.text, t.layers, t.width, batch[key])
    for key in ("pair_images", "item_images"):
        if key in batch:
            flops += tower(model.image, i.layers, i.width, image_mask.expand(len(batch[key]), -1))
    if "seq_mask" in batch:
        flops += tower(model.behaviour, b.layers, b.width, batch["seq_mask"])
    return flops, int(batch["n_samples"])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs; medians reported")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = synthetic_corpus(seed=0, n_texts=2000, n_captions=2000, n_items=500, n_users=400)
    model_cfg, train_cfg = load_preset(args.preset)
    # Only the final checkpoint is written (and not timed); content refresh happens at
    # step 0 only, which is the excluded warm-up step.
    train_cfg = dataclasses.replace(
        train_cfg,
        steps=args.steps,
        log_every=10,
        checkpoint_every=10**9,
        content_refresh_every=10**9,
        progress=False,
    )
    tokenizer = train_tokenizer(corpus_texts(corpus), model_cfg.text.vocab_size)
    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name() if cuda else platform.processor() or platform.machine()
    print(
        f"# karpa pretraining throughput, {datetime.datetime.now().isoformat(timespec='seconds')}"
    )
    print(
        f"# machine: {platform.node()} | {device} | torch {torch.__version__} | "
        f"threads {torch.get_num_threads()} | preset {args.preset} | {args.steps} steps x "
        f"{args.rounds} rounds"
    )
    precisions = ["bf16", "fp32"] if cuda else ["fp32"]
    report: dict[str, float | str] = {"preset": args.preset, "device": device}
    for precision in precisions:
        cfg = dataclasses.replace(train_cfg, precision=precision)
        bare, karpa, tokens = [], [], []
        for _ in range(args.rounds):  # alternate, so drift on a shared machine hits both
            bare.append(bare_loop(corpus, tokenizer, model_cfg, cfg))
            k = karpa_loop(corpus, tokenizer, model_cfg, cfg)
            karpa.append(k[0])
            tokens.append(k[1])
        b, k = statistics.median(bare), statistics.median(karpa)
        print(
            f"{precision}: bare PyTorch {b:9.1f} samples/s | karpa {k:9.1f} samples/s "
            f"({statistics.median(tokens):.0f} tokens/s) | ratio {k / b:.3f}"
        )
        report.update(
            {
                f"{precision}_bare_samples_per_s": b,
                f"{precision}_karpa_samples_per_s": k,
                f"{precision}_ratio": k / b,
            }
        )
    if cuda:
        peak = next((v for name, v in PEAK_BF16.items() if name in device), None)
        flops, samples_per_step = step_flops(corpus, tokenizer, model_cfg, train_cfg)
        achieved = flops * report["bf16_karpa_samples_per_s"] / samples_per_step
        mfu = f"{achieved / peak:.1%}" if peak else "unknown peak for this GPU"
        print(f"bf16 model FLOPs: {achieved / 1e12:.2f} TFLOP/s achieved, MFU {mfu}")
        report["bf16_tflops"] = achieved / 1e12
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
