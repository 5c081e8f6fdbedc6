"""Zero-shot cross-modal retrieval on held-out data: did pretraining align the modalities?

Recall@k of the true partner among every candidate, with ties counted against the model
(rank = 1 + #higher + #equal others), next to the chance level k / N.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from tokenizers import Tokenizer

from karpa_models.corpus import RetrievalSet
from karpa_models.model import FoundationModel

logger = logging.getLogger(__name__)


def ranks_of_diagonal(scores: np.ndarray) -> np.ndarray:
    """scores (N, M) with the true candidate of query i at column i -> (N,) 1-based ranks."""
    true = scores[np.arange(len(scores)), np.arange(len(scores))][:, None]  # (N, 1)
    higher = (scores > true).sum(1)
    ties = (scores == true).sum(1) - 1  # the true candidate itself is not a tie
    return 1 + higher + ties


def recall_at(ranks: np.ndarray, ks: Sequence[int]) -> dict[int, float]:
    return {k: float((ranks <= k).mean()) for k in ks}


def evaluate_retrieval(
    model: FoundationModel,
    tokenizer: Tokenizer,
    held_out: RetrievalSet,
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """Image→text and text→image recall@k over the held-out pairs, and, when held_out has
    items, item content→behaviour recall@10; each with its chance level.

    Keys: image_to_text/recall@k, text_to_image/recall@k, chance/recall@k, n_pairs, and
    content_to_behaviour/recall@10, content_to_behaviour/chance@10, n_items.
    """
    model.set_tokenizer(tokenizer)
    out: dict[str, float] = {}
    n = len(held_out.captions)
    if n:
        txt = model.embed_text(held_out.captions)  # (N, D)
        img = model.embed_images(held_out.images)  # (N, D)
        scores = img @ txt.T  # (N images, N texts)
        for direction, s in (("image_to_text", scores), ("text_to_image", scores.T)):
            for k, r in recall_at(ranks_of_diagonal(s), ks).items():
                out[f"{direction}/recall@{k}"] = r
        for k in ks:
            out[f"chance/recall@{k}"] = min(1.0, k / n)
        out["n_pairs"] = float(n)
    if (
        held_out.item_indices is not None
        and len(held_out.item_indices)
        and model.behaviour is not None
    ):
        idx = held_out.item_indices
        content = model.embed_items(
            held_out.item_texts, held_out.item_images, held_out.item_has_image
        )
        behaviour = model.item_behaviour_embeddings()[idx]  # (M, D)
        ranks = ranks_of_diagonal(content @ behaviour.T)
        out["content_to_behaviour/recall@10"] = recall_at(ranks, [10])[10]
        out["content_to_behaviour/chance@10"] = min(1.0, 10 / len(idx))
        out["n_items"] = float(len(idx))
    logger.info("zero-shot retrieval: %s", {k: round(v, 4) for k, v in out.items()})
    return out
