"""Next-item recommendation from the behaviour tower.

NextItemRecommender: a history + MASK goes through the behaviour tower; the MASK state,
through a tied decoder (BERT's MLM head, as in pretraining's masked-item objective), scores
every catalogue item's fused embedding. An item's embedding is its content vector
(projected) plus, for items seen in training, its id embedding; a cold item's id
embedding never received a positive signal, so it is left out and the item scores by
content alone. The content vectors are computed once from the foundation's text and image
towers and stay fixed while the behaviour tower fine-tunes.

Attention is bidirectional, as pretraining's masked-item task trained it (the MASK after the
history asks for the next item), or causal (SASRec: MASK first as a start token, every
position predicts the item after what it has seen, so every position of a training window
is a target instead of one). The layouts are karpa_models.finetune.sequences'.

Id dropout (DropoutNet, Volkovs et al. 2017): while training, each step drops the id part
(and the learned bias) of a random share of the warm items, so the content projection
must score those items on its own, as it must for a cold item at serving time.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from karpa_models.checkpoint import load_checkpoint
from karpa_models.finetune.sequences import IGNORE, history_batch
from karpa_models.objectives import TiedDecoder
from karpa_models.runtime import Runtime
from karpa_models.towers import BehaviourTower

logger = logging.getLogger(__name__)

_DECODER_PREFIX = "masked_item.decoder."


class NextItemRecommender(nn.Module):
    """items (B, L), mask (B, L) -> hidden (B, L, C); `logits(hidden (M, C)) -> (M, n_items)`.

    warm (n_items,) bool: items with training interactions; the others have no id part.
    causal: each position attends only to itself and the positions before it.
    id_dropout: in training mode, the share of warm items scored as if cold in each loss.
    """

    def __init__(
        self,
        behaviour: BehaviourTower,
        head: TiedDecoder,
        warm: Tensor,
        causal: bool = False,
        id_dropout: float = 0.0,
    ):
        super().__init__()
        if not 0.0 <= id_dropout < 1.0:
            raise ValueError(f"id_dropout must be in [0, 1), got {id_dropout}")
        self.behaviour = behaviour
        self.head = head
        self.causal = causal
        self.id_dropout = id_dropout
        self.register_buffer("warm", warm.bool().clone())

    @property
    def n_items(self) -> int:
        return self.behaviour.n_items

    def known_ids(self) -> Tensor:
        """(n_items,) bool: the items whose id part and bias count: the warm ones, less
        those id dropout drops in training mode (drawn anew on every call)."""
        if not (self.training and self.id_dropout > 0):
            return self.warm
        kept = torch.rand(self.warm.shape, device=self.warm.device) >= self.id_dropout
        return self.warm & kept

    def item_table(self, known: Tensor | None = None) -> Tensor:
        """Fused embeddings of every index, specials included: (n_items + 2, C); `known`
        (n_items,) bool: the items with an id part (default: the warm ones)."""
        beh = self.behaviour
        known = self.warm if known is None else known
        ids = beh.id_emb.weight[: beh.n_items] * known.unsqueeze(-1).to(beh.id_emb.weight)
        fused = ids + beh.content_proj(beh.content)  # (n, C)
        return torch.cat([fused, beh.id_emb.weight[beh.n_items :]], dim=0)  # (n + 2, C)

    def forward(self, items: Tensor, mask: Tensor, table: Tensor | None = None) -> Tensor:
        beh = self.behaviour
        if items.shape[1] > beh.max_len:
            raise ValueError(f"sequence of {items.shape[1]} exceeds max_len {beh.max_len}")
        table = self.item_table() if table is None else table
        L = items.shape[1]
        pos = torch.arange(L, device=items.device)  # (L,)
        x = table[items] + beh.pos_emb(pos)  # (B, L, C)
        if self.causal:
            # Position 0 (the start MASK) is never padding, so every query keeps a key.
            past = torch.ones(L, L, dtype=torch.bool, device=items.device).tril()  # (L, L)
            mask = mask[:, None, :] & past  # (B, L, L) query x key
        return beh.encoder(beh.drop(x), mask)  # (B, L, C)

    def item_bias(self, known: Tensor | None = None) -> Tensor:
        """(n_items,): the decoder's per-item bias; a cold item, whose bias only ever
        learned to go down, gets the mean bias of the warm items instead (as does an item
        outside `known`, default: the warm ones)."""
        bias = self.head.bias
        known = self.warm if known is None else known
        if bool(known.all()) or not bool(self.warm.any()):
            return bias
        return torch.where(known, bias, bias[self.warm].mean().detach())

    def logits(
        self,
        hidden: Tensor,
        table: Tensor | None = None,
        candidates: Tensor | None = None,
        known: Tensor | None = None,
    ) -> Tensor:
        """hidden (M, C) -> (M, n_items), or (M, K) over `candidates` (K,) item indices;
        `known` as for item_table, which `table` must have been built with."""
        table = (self.item_table(known) if table is None else table)[: self.n_items]  # (n, C)
        bias = self.item_bias(known)
        if candidates is not None:
            table, bias = table[candidates], bias[candidates]
        h = self.head.ln(F.gelu(self.head.dense(hidden)))  # (M, C)
        return F.linear(h, table, bias)

    @torch.no_grad()
    def score_histories(
        self,
        histories: Sequence[Sequence[int]],
        max_len: int,
        runtime: Runtime,
        batch_size: int = 512,
    ) -> np.ndarray:
        """U histories of item indices -> (U, n_items) float32 scores, in eval mode."""
        was_training = self.training
        self.eval()
        out = np.zeros((len(histories), self.n_items), dtype=np.float32)
        try:
            table = self.item_table()
            for start in range(0, len(histories), batch_size):
                chunk = histories[start : start + batch_size]
                items, mask, query = history_batch(chunk, max_len, self.n_items, self.causal)
                items_t = torch.from_numpy(items).to(runtime.device)
                mask_t = torch.from_numpy(mask).to(runtime.device)
                with runtime.autocast():
                    hidden = self(items_t, mask_t, table)  # (B, L, C)
                    rows = torch.arange(len(chunk), device=runtime.device)
                    h = hidden[rows, torch.from_numpy(query).to(runtime.device)]  # (B, C)
                    scores = self.logits(h, table)  # (B, n)
                out[start : start + len(chunk)] = scores.float().cpu().numpy()
        finally:
            self.train(was_training)
        return out

    def loss(
        self,
        items: Tensor,
        mask: Tensor,
        labels: Tensor,
        n_sampled: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Cross-entropy of every labelled position over the catalogue (full softmax), or
        over the batch's targets plus n_sampled uniform negatives (sampled softmax). With id
        dropout, one draw of known items serves the history and the scored items alike."""
        known = self.known_ids()
        table = self.item_table(known)
        hidden = self(items, mask, table)  # (B, L, C)
        target = labels != IGNORE  # (B, L)
        h, y = hidden[target], labels[target]  # (M, C), (M,)
        if n_sampled is None:
            return F.cross_entropy(self.logits(h, table, known=known).float(), y)
        negatives = torch.randint(
            0, self.n_items, (n_sampled,), generator=generator, device="cpu"
        ).to(y.device)
        candidates = torch.cat([y, negatives])  # (M + S,)
        logits = self.logits(h, table, candidates, known).float()  # (M, M + S)
        # Another row's target, or a negative, that is this row's target is not a negative.
        clash = candidates.unsqueeze(0) == y.unsqueeze(1)  # (M, M + S)
        clash[torch.arange(len(y)), torch.arange(len(y))] = False
        logits = logits.masked_fill(clash, float("-inf"))
        return F.cross_entropy(logits, torch.arange(len(y), device=y.device))


def build_recommender(
    behaviour: BehaviourTower,
    content: Tensor,
    warm: np.ndarray,
    decoder_state: dict[str, Tensor] | None = None,
    causal: bool = False,
    id_dropout: float = 0.0,
) -> NextItemRecommender:
    """A recommender around a copy of `behaviour`, with fixed `content` (n_items, D)."""
    beh = copy.deepcopy(behaviour)
    if content.shape != beh.content.shape:
        raise ValueError(
            f"content is {tuple(content.shape)}, the behaviour tower expects "
            f"{tuple(beh.content.shape)} (is the catalogue the one pretraining saw?)"
        )
    beh.content.copy_(content.to(beh.content.device))
    head = TiedDecoder(beh.width, beh.n_items)
    if decoder_state is not None:
        head.load_state_dict(decoder_state)
    warm_t = torch.from_numpy(np.asarray(warm, dtype=bool))
    return NextItemRecommender(beh, head, warm_t, causal, id_dropout)


def pretrained_item_decoder(checkpoint_path: str | Path) -> dict[str, Any] | None:
    """The masked-item decoder that pretraining trained, if the checkpoint has one.

    Starting the next-item head from it means the fine-tune begins where pretraining's
    masked-item task left off instead of from a random head.
    """
    state = load_checkpoint(checkpoint_path)
    objectives = state.get("objectives", {})
    decoder = {
        k.removeprefix(_DECODER_PREFIX): v
        for k, v in objectives.items()
        if k.startswith(_DECODER_PREFIX)
    }
    return decoder or None
