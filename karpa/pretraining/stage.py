"""The pretrain stage: build the corpus, pretrain (resuming a partial run), evaluate
zero-shot retrieval, and record a manifest.

The working folder is keyed by the views' fingerprint and the resolved model and training
configs. It is written in place rather than renamed at the end, because an interrupted run
must find its checkpoints again; `manifest.json` is written last and marks it complete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from karpa.config import PretrainConfig
from karpa.fingerprint import combine, digest_json
from karpa.manifests import AlignManifest, FoundationManifest
from karpa.pretraining.corpus import build_corpus
from karpa.store import Store, write_manifest

log = logging.getLogger(__name__)

PRETRAIN_VERSION = "1"
MetricsCallback = Callable[[dict[str, float], int], None]


def pretrain_key(views: AlignManifest, cfg: PretrainConfig, seed: int) -> str:
    model_cfg, train_cfg = cfg.model_configs(seed)
    # Device, precision and the progress bar do not change what is learned on CPU; they
    # stay out of the key so a run on another machine can reuse the checkpoint.
    train = {
        k: v
        for k, v in train_cfg.to_dict().items()
        if k not in ("device", "precision", "progress", "num_workers", "log_every")
    }
    return combine(
        [
            PRETRAIN_VERSION,
            views.fingerprint,
            digest_json(model_cfg.to_dict()),
            digest_json(train),
            str(cfg.max_texts),
            str(views.transductive),
        ]
    )


def pretrain_foundation(
    views: AlignManifest,
    cfg: PretrainConfig,
    seed: int,
    store: Store,
    on_metrics: MetricsCallback | None = None,
) -> FoundationManifest:
    from karpa_models.pretraining import load_foundation, pretrain
    from karpa_models.retrieval import evaluate_retrieval

    key = pretrain_key(views, cfg, seed)
    if store.has("foundations", key):
        log.info("pretrain: views and config unchanged (%s), reusing the checkpoint", key)
        return FoundationManifest(**store.manifest("foundations", key), skipped=True)

    folder = store.path("foundations", key)
    folder.mkdir(parents=True, exist_ok=True)
    model_cfg, train_cfg = cfg.model_configs(seed)
    corpus, held = build_corpus(Path(views.path), model_cfg.image.image_size, cfg.max_texts, seed)
    log.info(
        "pretrain: %s texts, %s image-text pairs, %s items, %s user sequences",
        f"{len(corpus.texts):,}",
        f"{len(corpus.captions):,}",
        f"{corpus.n_items:,}",
        f"{len(corpus.sequences):,}",
    )
    result = pretrain(corpus, model_cfg, train_cfg, folder, on_metrics=on_metrics, resume=True)
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
        "preset": cfg.preset,
        "corpus": {
            "texts": len(corpus.texts),
            "pairs": len(corpus.captions),
            "items": corpus.n_items,
            "sequences": len(corpus.sequences),
            "heldout_pairs": len(held.captions),
            "image_size": model_cfg.image.image_size,
        },
    }
    write_manifest(folder, manifest)
    return FoundationManifest(**manifest)
