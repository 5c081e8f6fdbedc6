"""Is the time budget long enough for one trial? Checked before any work starts.

The bound is measured, not guessed: the smallest architecture of the space is pretrained
for a few steps on karpa_models' small synthetic corpus (short texts, so faster per step
than real data), and its fastest step times `search.pretrain_steps` is the bound. Start-up
costs and slower steps (a busy machine) are left out, and a real trial also fine-tunes and
scores, so this is a lower bound: a budget below it cannot hold one trial, and is refused
in one sentence.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import tempfile
import time

from karpa.config import RunConfig
from karpa.errors import ConfigError
from karpa.search.space import smallest
from karpa.search.trial import trial_configs
from karpa_models.progress import format_duration

CALIBRATION_STEPS = 5
SYNTHETIC_IMAGE_SIDE = 32  # karpa_models.synthetic draws 32 x 32 images


def one_trial_lower_bound(cfg: RunConfig) -> float:
    """Seconds that pretraining alone of the space's smallest point takes here."""
    from karpa_models.pretraining import corpus_texts, pretrain
    from karpa_models.synthetic import synthetic_corpus
    from karpa_models.tokenizer import train_tokenizer

    corpus = synthetic_corpus(n_texts=200, n_captions=200, n_items=60, n_users=40)
    params = smallest(cfg.search.space)
    fits = [p for p in cfg.search.space.patch_size if SYNTHETIC_IMAGE_SIDE % p == 0]
    params["patch_size"] = max(fits) if fits else SYNTHETIC_IMAGE_SIDE
    model_cfg, train_cfg = trial_configs(params, cfg, CALIBRATION_STEPS)
    model_cfg = dataclasses.replace(
        model_cfg,
        image=dataclasses.replace(model_cfg.image, image_size=SYNTHETIC_IMAGE_SIDE),
    )
    train_cfg = dataclasses.replace(train_cfg, log_every=1)
    marks: list[float] = []

    def on_metrics(metrics: dict[str, float], step: int) -> None:
        marks.append(time.perf_counter())

    quiet = logging.getLogger("karpa_models")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # a check, not training: its log lines would mislead
    try:
        tokenizer = train_tokenizer(corpus_texts(corpus), min(model_cfg.text.vocab_size, 500))
        with tempfile.TemporaryDirectory(prefix="karpa-search-budget-") as tmp:
            pretrain(
                corpus, model_cfg, train_cfg, tmp, on_metrics, resume=False, tokenizer=tokenizer
            )
    finally:
        quiet.setLevel(level)
    fastest = min(b - a for a, b in itertools.pairwise(marks))
    return fastest * cfg.search.pretrain_steps


def check_budget(cfg: RunConfig) -> None:
    """Refuse a budget shorter than the lower bound of one trial."""
    budget_s = cfg.search.budget_minutes * 60.0
    needed = one_trial_lower_bound(cfg)
    if budget_s < needed:
        raise ConfigError(
            f"search.budget_minutes: {cfg.search.budget_minutes:g} min is too small for one "
            f"trial (pretraining alone of the space's smallest architecture for "
            f"{cfg.search.pretrain_steps} steps takes about {format_duration(needed)} here); "
            "raise the budget or lower search.pretrain_steps"
        )
