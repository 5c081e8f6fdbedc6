"""The saved form of a fine-tuned model: one self-contained folder.

classifier/                         recommender/
  meta.json      format, settings     meta.json      format, settings
  weights.pt     state dict           weights.pt     state dict
  model_config.json                   model_config.json
  tokenizer.json                      items.json     catalogue item ids, index order
  classes.json   column order
  thresholds.json  out-of-scope threshold (or null)
  neighbours.npz, neighbours.json  labeled training examples for explanations (optional:
                   absent from models saved before explanations existed)

hybrid/ (the served recommender: sequence model + EASE, karpa_models/finetune/hybrid.py)
  meta.json        format, blend weights
  sequence/        a recommender folder as above
  ease.npy         (I, I) float32 EASE item-item weights
  item_counts.npy  (I,) training interactions per item (cold items, popularity fallback)

Weights are a plain state dict (`torch.load(..., weights_only=True)` reads it) and the
architecture is rebuilt from model_config.json, so loading needs neither the foundation
checkpoint nor the network. A folder is written beside its destination and renamed into
place: a crash never leaves a half-written model that looks complete.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer

from karpa_models.config import ModelConfig
from karpa_models.explain.neighbours import NeighbourIndex
from karpa_models.finetune.classifier import TextClassifier
from karpa_models.finetune.hybrid import BlendWeights, HybridRecommender
from karpa_models.finetune.predictors import FineTunedClassifier, FineTunedRecommender
from karpa_models.finetune.recommender import NextItemRecommender
from karpa_models.finetune.text import build_text_tower
from karpa_models.objectives import TiedDecoder
from karpa_models.runtime import init_runtime
from karpa_models.towers import BehaviourTower

logger = logging.getLogger(__name__)

CLASSIFIER_FORMAT = "karpa-classifier/1"
RECOMMENDER_FORMAT = "karpa-recommender/1"
HYBRID_FORMAT = "karpa-hybrid/1"
WEIGHTS = "weights.pt"


def save_classifier(clf: FineTunedClassifier, folder: str | Path) -> Path:
    """Write `clf` as a self-contained folder (replacing any model already there)."""
    meta = {
        "format": CLASSIFIER_FORMAT,
        "max_len": clf.max_len,
        "mode": clf.mode,
        "normalize": bool(getattr(clf.model, "normalize", False)),
        "n_classes": len(clf.classes),
        "train_info": clf.train_info,
    }
    files = {
        "meta.json": meta,
        "model_config.json": clf.model_config.to_dict(),
        "classes.json": {"classes": list(clf.classes)},
        "thresholds.json": {"oos_threshold": clf.oos_threshold, "oos_label": clf.oos_label},
    }
    extra = clf.neighbours.save if clf.neighbours is not None else None
    return _write_folder(folder, files, clf.model.state_dict(), clf.tokenizer, extra)


def load_classifier(folder: str | Path, device: str = "cpu") -> FineTunedClassifier:
    """Rebuild a saved classifier (eval mode) on `device` ("cpu", "cuda" or "auto")."""
    folder = Path(folder)
    meta = _meta(folder, CLASSIFIER_FORMAT)
    cfg = ModelConfig.from_dict(_json(folder / "model_config.json"))
    classes = list(_json(folder / "classes.json")["classes"])
    thresholds = _json(folder / "thresholds.json")
    runtime = init_runtime(device, "auto")
    model = TextClassifier(
        build_text_tower(cfg), len(classes), normalize=bool(meta.get("normalize", False))
    )
    model.load_state_dict(_weights(folder))
    model.to(runtime.device).eval()
    return FineTunedClassifier(
        model=model,
        tokenizer=Tokenizer.from_file(str(folder / "tokenizer.json")),
        classes=classes,
        model_config=cfg,
        max_len=int(meta["max_len"]),
        runtime=runtime,
        mode=str(meta.get("mode", "full")),
        oos_threshold=thresholds.get("oos_threshold"),
        oos_label=str(thresholds.get("oos_label", "oos")),
        train_info=dict(meta.get("train_info", {})),
        neighbours=NeighbourIndex.load(folder),
    )


def save_recommender(rec: FineTunedRecommender, folder: str | Path) -> Path:
    """Write `rec` as a self-contained folder (replacing any model already there)."""
    meta = {
        "format": RECOMMENDER_FORMAT,
        "max_len": rec.max_len,
        "exclude_seen": rec.exclude_seen,
        "causal": rec.model.causal,
        "n_items": rec.n_items,
        "train_info": rec.train_info,
    }
    files = {
        "meta.json": meta,
        "model_config.json": rec.model_config.to_dict(),
        "items.json": {"item_ids": list(rec.item_ids)},
    }
    return _write_folder(folder, files, rec.model.state_dict(), None)


def load_recommender(folder: str | Path, device: str = "cpu") -> FineTunedRecommender:
    """Rebuild a saved recommender (eval mode) on `device` ("cpu", "cuda" or "auto")."""
    folder = Path(folder)
    meta = _meta(folder, RECOMMENDER_FORMAT)
    cfg = ModelConfig.from_dict(_json(folder / "model_config.json"))
    item_ids = list(_json(folder / "items.json")["item_ids"])
    runtime = init_runtime(device, "auto")
    behaviour = BehaviourTower(cfg.behaviour, cfg.embed_dim)
    model = NextItemRecommender(
        behaviour,
        TiedDecoder(behaviour.width, behaviour.n_items),
        torch.zeros(behaviour.n_items, dtype=torch.bool),
        # Folders written before the causal mode are bidirectional.
        causal=bool(meta.get("causal", False)),
    )
    model.load_state_dict(_weights(folder))
    model.to(runtime.device).eval()
    return FineTunedRecommender(
        model=model,
        model_config=cfg,
        item_ids=item_ids,
        max_len=int(meta["max_len"]),
        runtime=runtime,
        exclude_seen=bool(meta.get("exclude_seen", True)),
        train_info=dict(meta.get("train_info", {})),
    )


def save_hybrid(rec: HybridRecommender, folder: str | Path) -> Path:
    """Write the hybrid (its sequence model, EASE weights, item counts, blend) as one
    folder, replaced atomically."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.hybrid-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_recommender(rec.sequence, tmp / "sequence")
    np.save(tmp / "ease.npy", np.ascontiguousarray(rec.ease_weights, dtype=np.float32))
    np.save(tmp / "item_counts.npy", np.asarray(rec.item_counts, dtype=np.int64))
    meta = {
        "format": HYBRID_FORMAT,
        "blend": rec.blend.to_dict(),
        "n_items": rec.n_items,
        "train_info": rec.train_info,
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    logger.info("saved %s to %s", HYBRID_FORMAT, folder)
    return folder


def load_hybrid(folder: str | Path, device: str = "cpu") -> HybridRecommender:
    """Rebuild a saved hybrid recommender on `device`."""
    folder = Path(folder)
    meta = _meta(folder, HYBRID_FORMAT)
    return HybridRecommender(
        sequence=load_recommender(folder / "sequence", device),
        ease_weights=np.load(folder / "ease.npy", allow_pickle=False),
        item_counts=np.load(folder / "item_counts.npy", allow_pickle=False),
        blend=BlendWeights.from_dict(meta["blend"]),
        train_info=dict(meta.get("train_info", {})),
    )


def load_any_recommender(
    folder: str | Path, device: str = "cpu"
) -> HybridRecommender | FineTunedRecommender:
    """A hybrid folder or a plain recommender folder, by its meta.json format."""
    folder = Path(folder)
    if _json(folder / "meta.json").get("format") == HYBRID_FORMAT:
        return load_hybrid(folder, device)
    return load_recommender(folder, device)


def _write_folder(
    folder: str | Path,
    files: dict[str, Any],
    state: dict[str, torch.Tensor],
    tokenizer: Tokenizer | None,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    # Contiguous CPU copies: a state dict may hold views or CUDA tensors.
    torch.save({k: v.detach().to("cpu").contiguous() for k, v in state.items()}, tmp / WEIGHTS)
    for name, content in files.items():
        (tmp / name).write_text(json.dumps(content, indent=2, sort_keys=True))
    if tokenizer is not None:
        tokenizer.save(str(tmp / "tokenizer.json"))
    if extra is not None:
        extra(tmp)
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    logger.info("saved %s to %s", files["meta.json"]["format"], folder)
    return folder


def _meta(folder: Path, expected: str) -> dict[str, Any]:
    path = folder / "meta.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} holds no saved model (no meta.json)")
    meta = _json(path)
    if meta.get("format") != expected:
        raise ValueError(f"{folder} is a {meta.get('format')!r} model, expected {expected!r}")
    return meta


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
