"""The "no pretraining" ablation: the same architecture, randomly initialised.

A fair ablation changes one thing. The scratch twin is built from the pretrained model's
own ModelConfig (widths, depths, heads, catalogue size), with a WordPiece tokenizer trained
on the same texts the foundation's tokenizer saw, so the two differ only in whether
self-supervised pretraining happened. With a pretrained Hugging Face text tower
(`text_init`) the vocabulary is part of the architecture, so its tokenizer is kept and only
the weights are random.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import torch
from tokenizers import Tokenizer

from karpa_models.config import ModelConfig
from karpa_models.model import FoundationModel
from karpa_models.tokenizer import train_tokenizer

logger = logging.getLogger(__name__)


def scratch_foundation(
    cfg: ModelConfig,
    texts: Sequence[str],
    tokenizer: Tokenizer | None = None,
    seed: int = 0,
) -> tuple[FoundationModel, Tokenizer]:
    """A randomly initialised FoundationModel of `cfg`'s architecture and its tokenizer.

    texts: the corpus the foundation's tokenizer was trained on (a WordPiece vocabulary of
    at most cfg.text.vocab_size is trained on them). tokenizer: use this one instead, e.g.
    the foundation's own, to ablate the weights alone; required with cfg.text_init.
    Returns the model in train mode on CPU, with the tokenizer attached.
    """
    if cfg.text_init and tokenizer is None:
        raise ValueError(
            "a text_init architecture fixes its vocabulary: pass the pretrained tokenizer"
        )
    if tokenizer is None:
        texts = [t for t in texts if isinstance(t, str) and t.strip()]
        if not texts:
            raise ValueError("scratch_foundation needs texts to train its tokenizer on")
        tokenizer = train_tokenizer(texts, cfg.text.vocab_size)
    if not cfg.text_init:
        # The new vocabulary may be a little smaller than the target on a small corpus.
        text = dataclasses.replace(cfg.text, vocab_size=tokenizer.get_vocab_size())
        cfg = dataclasses.replace(cfg, text=text)
    # Seeded, so the ablation's random init is reproducible and the same for every app.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FoundationModel(cfg, load_pretrained=False)
    model.set_tokenizer(tokenizer)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info(
        "scratch twin: %.2fM parameters, vocabulary %d", n_params / 1e6, tokenizer.get_vocab_size()
    )
    return model, tokenizer
