"""The pretrain stage: build the corpus and the validation data of the downstream checks,
pretrain (resuming a partial run) keeping the checkpoint with the best combined check,
evaluate zero-shot retrieval, and record a manifest.

The working folder is keyed by the views' fingerprint and the resolved model and training
configs. It is written in place rather than renamed at the end, because an interrupted run
must find its checkpoints again; `manifest.json` is written last and marks it complete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from karpa.allocators import trim_heap
from karpa.config import PretrainConfig
from karpa.fingerprint import combine, digest_json
from karpa.manifests import AlignManifest, FoundationManifest
from karpa.pretraining.inputs import pretrain_inputs
from karpa.pretraining.verdict import foundation_sentence
from karpa.store import Store, write_manifest
from karpa_models.cooccurrence import starts_from_cooccurrence

log = logging.getLogger(__name__)

PRETRAIN_VERSION = "2"  # 2: checkpoint chosen by downstream checks; retrieval on half the pairs
MetricsCallback = Callable[[dict[str, float], int], None]
OnCheck = Callable[[int, float], None]


def pretrain_key(views: AlignManifest, cfg: PretrainConfig, seed: int) -> str:
    model_cfg, train_cfg = cfg.model_configs(seed)
    # Device, precision, the progress bar and activation checkpointing do not change what
    # is learned on CPU; they stay out of the key so a run on another machine can reuse
    # the checkpoint.
    how = (
        "device",
        "precision",
        "progress",
        "num_workers",
        "log_every",
        "activation_checkpointing",
    )
    train = {k: v for k, v in train_cfg.to_dict().items() if k not in how}
    return combine(
        [
            PRETRAIN_VERSION,
            views.fingerprint,
            digest_json(model_cfg.to_dict()),
            digest_json(train),
            str(cfg.max_texts),
            str(views.transductive),
            digest_json(cfg.checks.model_dump(mode="json")),
        ]
    )


def pretrain_foundation(
    views: AlignManifest,
    cfg: PretrainConfig,
    seed: int,
    store: Store,
    on_metrics: MetricsCallback | None = None,
    on_check: OnCheck | None = None,
) -> FoundationManifest:
    """on_metrics gets losses and the checks (`check/<name>`) with their step;
    on_check(step, combined check score) is called after every check (see
    karpa_models.pretraining.pretrain). With `pretrain.nproc_per_node` (or `nnodes`)
    above 1 the training runs under torchrun (karpa/pretraining/torchrun.py), and both
    are fed from its rank 0 as it goes; the manifest is the same either way."""
    try:
        return _pretrain_foundation(views, cfg, seed, store, on_metrics, on_check)
    finally:
        # The model, batches and activations are garbage now; the fine-tunes that run
        # next in this process should not stack their peak on pages nothing uses.
        trim_heap()


def _pretrain_foundation(
    views: AlignManifest,
    cfg: PretrainConfig,
    seed: int,
    store: Store,
    on_metrics: MetricsCallback | None,
    on_check: OnCheck | None,
) -> FoundationManifest:
    from karpa.pretraining.torchrun import pretrain_with_torchrun
    from karpa_models.pretraining import load_foundation, pretrain
    from karpa_models.retrieval import evaluate_retrieval

    key = pretrain_key(views, cfg, seed)
    if store.has("foundations", key):
        log.info("pretrain: views and config unchanged (%s), reusing the checkpoint", key)
        return FoundationManifest(**store.manifest("foundations", key), skipped=True)

    folder = store.path("foundations", key)
    folder.mkdir(parents=True, exist_ok=True)
    model_cfg, train_cfg = cfg.model_configs(seed)
    inputs = pretrain_inputs(Path(views.path), cfg, seed)
    corpus, held, check_pairs = inputs.corpus, inputs.held, inputs.check_pairs
    log.info(
        "pretrain: %s texts, %s image-text pairs, %s items, %s user sequences",
        f"{len(corpus.texts):,}",
        f"{len(corpus.captions):,}",
        f"{corpus.n_items:,}",
        f"{len(corpus.sequences):,}",
    )
    if cfg.distributed:
        # The same pretrain() in torchrun's processes, which rebuild these inputs.
        result = pretrain_with_torchrun(views, cfg, seed, folder, on_metrics, on_check)
    else:
        result = pretrain(
            corpus,
            model_cfg,
            train_cfg,
            folder,
            on_metrics=on_metrics,
            resume=True,
            checks=inputs.checks,
            checks_cfg=cfg.checks.to_model(),
            on_check=on_check,
        )
    if result.checks:
        result.checks["pretrained_start"] = bool(model_cfg.text_init)
        result.checks["cooccurrence_start"] = starts_from_cooccurrence(model_cfg, train_cfg)
        result.checks["sentence"] = foundation_sentence(
            result.checks,
            pretrained_start=result.checks["pretrained_start"],
            cooccurrence_start=result.checks["cooccurrence_start"],
        )
        log.info("pretrain: %s", result.checks["sentence"])
    model, tokenizer, _ = load_foundation(result.checkpoint_path)
    retrieval = evaluate_retrieval(model, tokenizer, held) if len(held.captions) else {}
    manifest = {
        "fingerprint": key,
        "path": str(folder),
        "checkpoint": str(result.checkpoint_path),
        "steps": result.steps,
        "resumed_from_step": result.resumed_from_step,
        "samples_per_s": result.samples_per_s,
        "tokens_per_s": result.tokens_per_s,
        "first_losses": result.first_losses,
        "final_losses": result.final_losses,
        "retrieval": retrieval,
        "objectives": result.active_objectives,
        "checks": result.checks,
        "preset": cfg.preset,
        "corpus": {
            "texts": len(corpus.texts),
            "pairs": len(corpus.captions),
            "items": corpus.n_items,
            "sequences": len(corpus.sequences),
            "heldout_pairs": len(held.captions),
            "check_pairs": len(check_pairs.captions),
            "image_size": model_cfg.image.image_size,
        },
    }
    write_manifest(folder, manifest)
    return FoundationManifest(**manifest)
