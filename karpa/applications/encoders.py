"""The starting points every application compares: the pretrained foundation and its
scratch twin (same architecture, random weights, a tokenizer trained on the same texts).

With a foundation, the twin reuses the foundation's own tokenizer: it was trained on the
same texts, so the two differ in their weights alone (retraining would give the same
vocabulary, at a cost). Without a foundation, a tokenizer is trained on
pretrain_texts.parquet."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from karpa.applications.data import read_view
from karpa_models.config import ModelConfig, load_preset
from karpa_models.finetune.scratch import scratch_foundation
from karpa_models.model import FoundationModel
from karpa_models.pretraining import load_foundation

logger = logging.getLogger(__name__)

PRETRAINED, SCRATCH = "pretrained", "scratch"
ABLATION = (
    "scratch: the foundation's architecture and tokenizer with random weights, fine-tuned "
    "with the same recipe on the same split"
)


def provenance(foundation_ckpt: Path | None) -> dict[str, str]:
    """Protocol entries naming the starting point and the ablation."""
    return {
        "foundation": str(foundation_ckpt) if foundation_ckpt else "none: scratch only",
        "ablation": ABLATION,
    }


@dataclass
class Encoder:
    """A named starting point: "pretrained" or "scratch"."""

    name: str
    model: FoundationModel
    tokenizer: Tokenizer


def pretraining_texts(views_dir: Path) -> list[str]:
    """The texts pretraining's tokenizer learned from (pretrain_texts.parquet)."""
    texts = read_view(views_dir, "pretrain_texts")["text"].dropna().astype(str)
    return [t for t in texts if t.strip()]


def load_encoders(
    views_dir: Path,
    foundation_ckpt: Path | None,
    device: str,
    n_items: int,
    preset: str,
    with_scratch: bool,
    seed: int,
) -> list[Encoder]:
    """[pretrained (when a checkpoint is given), scratch (when asked, or when it is the
    only model)]. Without a checkpoint the scratch twin takes `preset`'s architecture with
    a catalogue of n_items."""
    encoders: list[Encoder] = []
    if foundation_ckpt is not None:
        model, tokenizer, cfg = load_foundation(foundation_ckpt, device=device)
        encoders.append(Encoder(PRETRAINED, model, tokenizer))
        logger.info("foundation loaded from %s", foundation_ckpt)
    else:
        cfg, _ = load_preset(preset)
        if cfg.text_init:
            raise ValueError(
                f"preset {preset!r} starts from a pretrained text encoder; without a "
                "foundation checkpoint there is nothing to build its scratch twin from"
            )
        cfg = dataclasses.replace(
            cfg, behaviour=dataclasses.replace(cfg.behaviour, n_items=n_items)
        )
        logger.info("no foundation checkpoint: training from scratch only (%s preset)", preset)
    if with_scratch or not encoders:
        encoders.append(_scratch(views_dir, cfg, encoders, device, seed))
    return encoders


def _scratch(
    views_dir: Path, cfg: ModelConfig, encoders: list[Encoder], device: str, seed: int
) -> Encoder:
    keep = encoders[0].tokenizer if encoders else None
    texts = pretraining_texts(views_dir) if keep is None else []
    model, tokenizer = scratch_foundation(cfg, texts, keep, seed)
    return Encoder(SCRATCH, model.to(device).eval(), tokenizer)
