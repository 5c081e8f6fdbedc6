"""Turn the aligned views into the pretraining corpus and the held-out retrieval set.

What pretraining may see is decided here, once: training-split texts (unless the run is
transductive), training-period behaviour only, and no image of a held-out item, so the
zero-shot retrieval check measures alignment the model was never shown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from karpa_models.corpus import PretrainCorpus, RetrievalSet


def _pixels(values: pd.Series, size: int) -> np.ndarray:
    """Raw (H, W, 3) uint8 bytes per row -> (N, size, size, 3); empty rows become zeros."""
    out = np.zeros((len(values), size, size, 3), dtype=np.uint8)
    for i, raw in enumerate(values):
        if raw is not None and not (isinstance(raw, float) and np.isnan(raw)):
            out[i] = np.frombuffer(raw, dtype=np.uint8).reshape(size, size, 3)
    return out


def build_corpus(
    views: Path, image_size: int, max_texts: int | None = None, seed: int = 0
) -> tuple[PretrainCorpus, RetrievalSet]:
    texts = pd.read_parquet(views / "pretrain_texts.parquet")
    texts = texts[texts["origin"] != "item"]  # item texts enter through the catalogue
    if max_texts is not None and len(texts) > max_texts:
        texts = texts.sample(n=max_texts, random_state=seed).sort_index()
    items = pd.read_parquet(views / "items.parquet").sort_values("item_idx")
    pairs = pd.read_parquet(views / "image_text.parquet")
    sequences = pd.read_parquet(views / "sequences.parquet")

    held_items = set(pairs.loc[pairs["split"] == "heldout", "item_idx"])
    train_pairs = pairs[pairs["split"] != "heldout"]
    held_pairs = pairs[pairs["split"] == "heldout"].drop_duplicates("item_idx")
    has_image = items["has_image"].to_numpy(dtype=bool) & ~items["item_idx"].isin(held_items)

    corpus = PretrainCorpus(
        texts=texts["text"].tolist(),
        captions=train_pairs["caption"].tolist(),
        caption_images=_pixels(train_pairs["pixels"], image_size),
        item_texts=items["text"].tolist(),
        item_images=_pixels(items["pixels"].where(has_image, None), image_size),
        item_has_image=has_image,
        sequences=[np.asarray(s, dtype=np.int64) for s in sequences["train_items"]],
    )
    held = RetrievalSet(
        captions=held_pairs["caption"].tolist(),
        images=_pixels(held_pairs["pixels"], image_size),
        item_indices=held_pairs["item_idx"].to_numpy(dtype=np.int64),
        item_texts=held_pairs["caption"].tolist(),
        item_images=_pixels(held_pairs["pixels"], image_size),
        item_has_image=np.ones(len(held_pairs), dtype=bool),
    )
    return corpus, held
