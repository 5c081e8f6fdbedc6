"""Public entry points of self-supervised pretraining: `pretrain` and `load_foundation`.

pretrain: corpus + configs -> a checkpoint in out_dir. It resumes from out_dir's
checkpoint when there is one (the architecture, tokenizer and item count then come from
the checkpoint, like nanoGPT's resume). Under torchrun every rank calls it with the same
arguments; only rank 0 writes files and reports metrics.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tokenizers import Tokenizer

from karpa_models.batches import PretrainBatches
from karpa_models.checkpoint import CHECKPOINT_NAME, load_checkpoint
from karpa_models.checks import ChecksConfig, ChecksData
from karpa_models.config import ModelConfig, TrainConfig
from karpa_models.cooccurrence import init_token_embeddings, starts_from_cooccurrence
from karpa_models.corpus import PretrainCorpus
from karpa_models.engine import MetricsCallback, train
from karpa_models.hf_text import pretrained_tokenizer
from karpa_models.layers import set_activation_checkpointing
from karpa_models.model import FoundationModel, build_model, resolve_text_init
from karpa_models.optim import seed_everything
from karpa_models.pretrain_step import PretrainStep
from karpa_models.runtime import init_runtime
from karpa_models.selection import BestCheckpoint, OnCheck
from karpa_models.tokenizer import save_tokenizer, train_tokenizer

logger = logging.getLogger(__name__)


@dataclass
class PretrainResult:
    checkpoint_path: Path
    tokenizer_path: Path
    steps: int
    samples_per_s: float
    tokens_per_s: float
    first_losses: dict[str, float] = field(default_factory=dict)
    final_losses: dict[str, float] = field(default_factory=dict)
    active_objectives: list[str] = field(default_factory=list)
    resumed_from_step: int = 0
    model_config: dict = field(default_factory=dict)
    # The downstream checks and what they kept (BestCheckpoint.summary()); empty when the
    # run had none, and checkpoint_path is then the last step's.
    checks: dict = field(default_factory=dict)


def corpus_texts(corpus: PretrainCorpus) -> list[str]:
    """Every text the tokenizer should learn from (the same texts the text objectives see)."""
    return corpus.texts + corpus.item_texts + corpus.captions


def concrete_model_config(
    cfg: ModelConfig, tokenizer: Tokenizer, corpus: PretrainCorpus
) -> ModelConfig:
    """Fill the sizes that come from data: vocabulary, catalogue, image size."""
    cfg = resolve_text_init(cfg)
    text = dataclasses.replace(cfg.text, vocab_size=tokenizer.get_vocab_size())
    behaviour = dataclasses.replace(cfg.behaviour, n_items=corpus.n_items)
    image = cfg.image
    if corpus.image_size is not None and corpus.image_size != cfg.image.image_size:
        image = dataclasses.replace(cfg.image, image_size=corpus.image_size)
    return dataclasses.replace(cfg, text=text, behaviour=behaviour, image=image)


def pretrain(
    corpus: PretrainCorpus,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    out_dir: str | Path,
    on_metrics: MetricsCallback | None = None,
    resume: bool = True,
    tokenizer: Tokenizer | None = None,
    checks: ChecksData | None = None,
    checks_cfg: ChecksConfig | None = None,
    on_check: OnCheck | None = None,
) -> PretrainResult:
    """Self-supervised pretraining of a FoundationModel on `corpus`.

    tokenizer: a tokenizer trained earlier (e.g. cached by tokenizer_fingerprint); when
    None, one is trained on the corpus with model_cfg.text.vocab_size — or, with
    model_cfg.text_init, the pretrained encoder's own tokenizer is used.
    checks, checks_cfg: downstream checks on validation data at step 0 and every
    checks_cfg.every steps (karpa_models/checks.py); the weights with the best combined
    check are kept in out_dir/foundation.pt, which is then the result's checkpoint — the
    start itself when no later checkpoint beats it. on_metrics receives them as
    `check/<name>`; on_check(step, combined score) is called after each (an exception it
    raises, such as a pruned trial's, stops pretraining and propagates).
    Writes out_dir/checkpoint.pt and out_dir/tokenizer.json.
    """
    out_dir = Path(out_dir)
    ckpt_path = out_dir / CHECKPOINT_NAME
    runtime = init_runtime(train_cfg.device, train_cfg.precision)
    try:
        state = load_checkpoint(ckpt_path) if resume and ckpt_path.exists() else None
        if state is not None:
            tokenizer = Tokenizer.from_str(state["tokenizer_json"])
            saved_cfg = ModelConfig.from_dict(state["model_config"])
            if saved_cfg.behaviour.n_items != corpus.n_items:
                raise ValueError(
                    f"{ckpt_path} was trained on {saved_cfg.behaviour.n_items} items, the corpus "
                    f"has {corpus.n_items}: resume needs the same corpus (or pass resume=False)"
                )
            _warn_changed(state["train_config"], train_cfg)
            logger.info(
                "resuming %s at step %d: architecture and tokenizer from the checkpoint",
                ckpt_path,
                state["step"],
            )
            model = FoundationModel(saved_cfg, load_pretrained=False)
        else:
            if tokenizer is None and runtime.is_main:
                tokenizer = (
                    pretrained_tokenizer(model_cfg.text_init)
                    if model_cfg.text_init
                    else train_tokenizer(corpus_texts(corpus), model_cfg.text.vocab_size)
                )
            # Rank 0 trains the vocabulary once (training is deterministic, but each rank
            # repeating it would only cost time) and every rank uses that one.
            tokenizer = Tokenizer.from_str(
                runtime.broadcast(tokenizer.to_str() if tokenizer else None)
            )
            cfg = concrete_model_config(model_cfg, tokenizer, corpus)
            seed_everything(train_cfg.seed)
            model = build_model(cfg)
            if starts_from_cooccurrence(cfg, train_cfg):
                # Every rank computes the same vectors (deterministic), no broadcast needed.
                init_token_embeddings(
                    model.text.tok_emb, tokenizer, corpus_texts(corpus), train_cfg.seed
                )
            if runtime.distributed:
                torch.manual_seed(train_cfg.seed + runtime.rank)  # each rank its own dropout
        model.set_tokenizer(tokenizer)
        set_activation_checkpointing(model, train_cfg.activation_checkpointing)
        tokenizer_path = out_dir / "tokenizer.json"
        if runtime.is_main:
            save_tokenizer(tokenizer, tokenizer_path)
        batches = PretrainBatches(
            corpus, tokenizer, model.cfg, train_cfg, runtime.rank, runtime.world_size
        )
        if not batches.active:
            raise ValueError("no objective can run: the corpus is empty or every loss weight is 0")
        step_module = PretrainStep(model, train_cfg, batches.active)
        meta = {"model_config": model.cfg.to_dict(), "tokenizer_json": tokenizer.to_str()}
        checker = (
            BestCheckpoint(
                checks, checks_cfg, out_dir, runtime, meta, on_metrics, on_check, state is None
            )
            if checks is not None and checks_cfg is not None and checks_cfg.every > 0
            else None
        )
        result = train(
            step_module, batches, train_cfg, runtime, ckpt_path, on_metrics, meta, state, checker
        )
    except BaseException:
        runtime.close()
        raise
    runtime.close(synchronize=True)
    kept = checker.summary() if checker is not None else {}
    return PretrainResult(
        checkpoint_path=checker.path if kept.get("kept_step") is not None else ckpt_path,
        tokenizer_path=tokenizer_path,
        steps=result.steps,
        samples_per_s=result.samples_per_s,
        tokens_per_s=result.tokens_per_s,
        first_losses=result.first_losses,
        final_losses=result.final_losses,
        active_objectives=list(batches.active),
        resumed_from_step=int(state["step"]) if state is not None else 0,
        model_config=model.cfg.to_dict(),
        checks=kept,
    )


def load_foundation(
    checkpoint_path: str | Path,
    device: str | torch.device = "cpu",
) -> tuple[FoundationModel, Tokenizer, ModelConfig]:
    """Rebuild the pretrained model from a checkpoint alone (weights_only load, offline),
    in eval mode with its tokenizer attached."""
    state = load_checkpoint(checkpoint_path)
    cfg = ModelConfig.from_dict(state["model_config"])
    model = FoundationModel(cfg, load_pretrained=False)
    model.load_state_dict(state["model"])
    tokenizer = Tokenizer.from_str(state["tokenizer_json"])
    model.set_tokenizer(tokenizer)
    model.to(device).eval()
    return model, tokenizer, cfg


_TRAJECTORY = (
    "seed",
    "batch_text",
    "batch_pairs",
    "batch_sequences",
    "batch_items",
    "loss_weights",
    "weighting",
    "steps",
    "lr",
    "warmup_steps",
)


def _warn_changed(saved: dict, now: TrainConfig) -> None:
    changed = [k for k in _TRAJECTORY if saved.get(k) != getattr(now, k)]
    if changed:
        logger.warning(
            "resuming with a changed train config (%s): the run will not match an "
            "uninterrupted one",
            ", ".join(changed),
        )
