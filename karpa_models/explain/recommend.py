"""Why an item was recommended: leave-one-out over the history, and the item's score split
into its additive parts.

History: the contribution of history item h to recommended item i is score(i | history)
minus score(i | history without h) (every occurrence of h removed), on the served score
itself (the hybrid's blend). Leave-one-out fits this recommender better than gradients:
the EASE half is a lookup with no gradient through the history, the blend z-scores per
user, and the ablation answers the question a person asks ("would I still get this
without that purchase?") at the cost of one scoring pass per history item.

Content features: the sequence model's logit of item i is h . (id_i + content_i) + bias_i
(recommender.py: the item table fuses a learned id embedding with the projected
text+image content vector), so it splits exactly into "content" (the item's text and
image), "behaviour" (its id embedding, learned from interactions) and "popularity" (the
decoder bias); the hybrid adds "co-occurrence" (EASE). The blend is linear after
per-user centring and scaling, so the parts of a blended score add up to it exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from karpa_models.finetune.hybrid import HybridRecommender
from karpa_models.finetune.predictors import FineTunedRecommender
from karpa_models.finetune.sequences import history_batch


@torch.no_grad()
def sequence_parts(rec: FineTunedRecommender, history: Sequence[int]) -> dict[str, np.ndarray]:
    """One history's sequence-model logits over the catalogue split into (I,) parts
    {"content", "behaviour", "popularity"} whose sum is rec.score([history])[0]."""
    model = rec.model.eval()
    device = rec.runtime.device
    items, mask, query = history_batch([list(history)], rec.max_len, rec.n_items, model.causal)
    table = model.item_table()  # (n + 2, C)
    hidden = model(torch.from_numpy(items).to(device), torch.from_numpy(mask).to(device), table)
    h = hidden[0, int(query[0])].float()  # (C,)
    h = model.head.ln(F.gelu(model.head.dense(h)))  # (C,)
    beh = model.behaviour
    ids = beh.id_emb.weight[: beh.n_items] * model.warm.unsqueeze(-1).to(beh.id_emb.weight)
    content = beh.content_proj(beh.content)  # (n, C)
    return {
        "content": (content.float() @ h).cpu().numpy(),
        "behaviour": (ids.float() @ h).cpu().numpy(),
        "popularity": model.item_bias().float().cpu().numpy(),
    }


def score_parts(
    rec: HybridRecommender | FineTunedRecommender, history: Sequence[int]
) -> dict[str, np.ndarray]:
    """(I,) additive parts of the served score of every item for one indexed history."""
    if isinstance(rec, FineTunedRecommender):
        return sequence_parts(rec, history)
    seq = sequence_parts(rec.sequence, history)
    ease = rec.ease_scores([history])[0].astype(np.float64)  # (I,)
    total = sum(seq.values())
    w = float(rec.blend.user_weights([len(history)])[0])
    cold = rec.cold_items
    # z(x) = (x - mean) / std is linear in x's parts once mean and std are fixed.
    seq_std, ease_std = float(np.std(total)), float(np.std(ease))
    w_seq = np.full(rec.n_items, w)
    w_ease = np.full(rec.n_items, 1.0 - w)
    if rec.blend.cold_rule == "sequence":
        w_seq[cold], w_ease[cold] = 1.0, 0.0
    out = {
        name: w_seq * (part - part.mean()) / seq_std if seq_std > 0 else np.zeros(rec.n_items)
        for name, part in seq.items()
    }
    out["co-occurrence"] = (
        w_ease * (ease - ease.mean()) / ease_std if ease_std > 0 else np.zeros(rec.n_items)
    )
    return out


def explain_recommendations(
    rec: HybridRecommender | FineTunedRecommender,
    history: Sequence[int | str],
    items: Sequence[int | str],
    top_history: int = 3,
    max_history: int = 50,
) -> list[dict[str, Any]]:
    """Per recommended item: {"item", "history": [{"item", "contribution"}] (largest first,
    at most top_history), "parts": {part: value}}. Only the last max_history distinct
    history items are ablated (one scoring pass each)."""
    indexed = rec.to_indices(history)
    targets = rec.to_indices(items)
    ids = rec.item_ids
    if not indexed:
        return [{"item": ids[t], "history": [], "parts": {}} for t in targets]
    distinct = list(dict.fromkeys(reversed(indexed)))[:max_history]  # most recent first
    variants = [indexed] + [[i for i in indexed if i != h] for h in distinct]
    scores = _served_scores(rec, variants)  # (1 + H, I)
    loo = scores[0][None, :] - scores[1:]  # (H, I): what each history item adds
    parts = score_parts(rec, indexed)
    out = []
    for t in targets:
        order = np.argsort(-loo[:, t], kind="stable")[:top_history]
        out.append(
            {
                "item": ids[t],
                "history": [
                    {"item": ids[distinct[j]], "contribution": float(loo[j, t])} for j in order
                ],
                "parts": {name: float(value[t]) for name, value in parts.items()},
            }
        )
    return out


def _served_scores(
    rec: HybridRecommender | FineTunedRecommender, histories: list[list[int]]
) -> np.ndarray:
    """(U, I) served scores. An emptied history is scored by the model as it stands (the
    sequence model reads a lone [MASK], EASE adds nothing), not by the popularity fallback:
    the question is what the model does without that item."""
    return np.asarray(rec.score(histories), dtype=np.float64)
