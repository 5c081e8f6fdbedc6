"""The saved form of a fine-tuned model: one self-contained folder.

classifier/                         recommender/
  meta.json      format, settings     meta.json      format, settings
  weights.pt     state dict           weights.pt     state dict
  model_config.json                   model_config.json
  tokenizer.json                      items.json     catalogue item ids, index order
  classes.json   column order
  thresholds.json  out-of-scope threshold (or null)

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
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer

from karpa_models.config import ModelConfig
from karpa_models.finetune.classifier import TextClassifier
from karpa_models.finetune.predictors import FineTunedClassifier, FineTunedRecommender
from karpa_models.finetune.recommender import NextItemRecommender
from karpa_models.finetune.text import build_text_tower
from karpa_models.objectives import TiedDecoder
from karpa_models.runtime import init_runtime
from karpa_models.towers import BehaviourTower

logger = logging.getLogger(__name__)

CLASSIFIER_FORMAT = "karpa-classifier/1"
RECOMMENDER_FORMAT = "karpa-recommender/1"
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
    return _write_folder(folder, files, clf.model.state_dict(), clf.tokenizer)


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
    )


def save_recommender(rec: FineTunedRecommender, folder: str | Path) -> Path:
    """Write `rec` as a self-contained folder (replacing any model already there)."""
    meta = {
        "format": RECOMMENDER_FORMAT,
        "max_len": rec.max_len,
        "exclude_seen": rec.exclude_seen,
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


def _write_folder(
    folder: str | Path,
    files: dict[str, Any],
    state: dict[str, torch.Tensor],
    tokenizer: Tokenizer | None,
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
