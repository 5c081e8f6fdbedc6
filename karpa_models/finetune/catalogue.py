"""The item catalogue a recommender ranks, and its items' content vectors.

An item's content vector is what pretraining fused into its behaviour embedding:
normalised text vector + normalised image vector (where the item has an image), in the
shared space. Computing it from the foundation's own towers is what lets an item with
no interaction history still score.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import Tensor

from karpa_models.finetune.text import encode, to_device
from karpa_models.model import FoundationModel
from karpa_models.runtime import Runtime

logger = logging.getLogger(__name__)


@dataclass
class ItemCatalogue:
    """Item i (0 <= i < n) has id item_ids[i], text texts[i] and, where has_image[i], the
    uint8 image images[i] of shape (S, S, 3). images is (n, S, S, 3) or None."""

    item_ids: list[str]
    texts: list[str]
    images: np.ndarray | None = None
    has_image: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.item_ids):
            raise ValueError(f"{len(self.item_ids)} item ids but {len(self.texts)} texts")
        if self.images is not None:
            if self.images.dtype != np.uint8 or self.images.ndim != 4:
                raise ValueError(f"images must be uint8 (n, S, S, 3), got {self.images.shape}")
            if len(self.images) != len(self.item_ids):
                raise ValueError(f"{len(self.images)} images for {len(self.item_ids)} items")
            if self.has_image is None:
                self.has_image = np.ones(len(self.item_ids), dtype=bool)
        if self.has_image is not None:
            self.has_image = np.asarray(self.has_image, dtype=bool)

    def __len__(self) -> int:
        return len(self.item_ids)


@torch.no_grad()
def item_content(
    foundation: FoundationModel,
    tokenizer: Tokenizer,
    catalogue: ItemCatalogue,
    runtime: Runtime,
    batch_size: int = 256,
) -> Tensor:
    """Every catalogue item's content vector: (n_items, D) float32 on runtime.device.

    The foundation is used read-only, on the device it is on (its train/eval mode is
    restored afterwards); runtime decides autocast and where the result goes.
    """
    images, has_image = catalogue.images, catalogue.has_image
    size = foundation.cfg.image.image_size
    if images is not None and images.shape[1:3] != (size, size):
        logger.warning(
            "catalogue images are %s, the image tower expects %dx%d: content is text only",
            images.shape[1:3],
            size,
            size,
        )
        images = has_image = None
    enc = encode(tokenizer, catalogue.texts, foundation.text.max_len)
    device = foundation.device
    out = torch.zeros(len(catalogue), foundation.cfg.embed_dim, device=device)
    was_training = foundation.training
    foundation.eval()
    try:
        for start in range(0, len(catalogue), batch_size):
            rows = np.arange(start, min(start + batch_size, len(catalogue)))
            ids, mask = to_device(enc, rows, device)
            img = flags = None
            if images is not None and has_image is not None and has_image[rows].any():
                img = torch.from_numpy(np.ascontiguousarray(images[rows])).to(device)
                flags = torch.from_numpy(has_image[rows]).to(device)
            with runtime.autocast():
                vec = foundation.encode_item_content(ids, mask, img, flags)  # (B, D)
            out[start : start + len(rows)] = vec.float()
    finally:
        foundation.train(was_training)
    return out.to(runtime.device)


def warm_items(sequences: Sequence[Sequence[int]], n_items: int) -> np.ndarray:
    """(n_items,) bool: True for items that occur in a training sequence."""
    warm = np.zeros(n_items, dtype=bool)
    for seq in sequences:
        warm[np.asarray(seq, dtype=np.int64)] = True
    return warm
