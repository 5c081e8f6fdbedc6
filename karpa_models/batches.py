"""Mixed pretraining batches: every step carries a part for each active objective.

A batch is a pure function of (seed, step, rank): each data pool is walked through
seeded per-epoch permutations, and masking draws from a generator seeded by the step.
So resuming at step N needs nothing but N, DataLoader workers may build batches in any
order, and data-parallel ranks take disjoint slices of one global batch (the
DistributedSampler idea without its state).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer
from torch.utils.data import Dataset

from karpa_models.config import ModelConfig, TrainConfig
from karpa_models.corpus import PretrainCorpus
from karpa_models.objectives import IGNORE
from karpa_models.tokenizer import EncodedTexts, SpecialTokens, encode_texts

logger = logging.getLogger(__name__)

# Independent random streams, so adding one pool never reshuffles another.
_TEXT, _PAIRS, _SEQS, _ITEMS = range(4)


def global_positions(step: int, pool: int, batch: int, seed: int, stream: int) -> np.ndarray:
    """Pool indices of the global batch of `step`: consecutive slices of an endless
    sequence of epochs, each a fresh permutation seeded by (seed, stream, epoch). -> (batch,)"""
    flat = np.arange(step * batch, (step + 1) * batch)
    epochs, offsets = np.divmod(flat, pool)
    out = np.empty(batch, dtype=np.int64)
    for epoch in np.unique(epochs):
        perm = np.random.default_rng([seed, stream, int(epoch)]).permutation(pool)
        sel = epochs == epoch
        out[sel] = perm[offsets[sel]]
    return out


def mask_tokens(
    ids: np.ndarray,
    mask: np.ndarray,
    special: SpecialTokens,
    vocab: int,
    prob: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """BERT masking. ids (B, T), mask (B, T) bool -> (inputs, labels), labels IGNORE where
    nothing is predicted. Of the chosen positions 80% become [MASK], 10% a random token,
    10% stay. Special tokens are never chosen; every row with a word gets >= 1 target."""
    candidate = mask & ~np.isin(ids, special.all_ids)  # (B, T)
    chosen = candidate & (rng.random(ids.shape) < prob)
    _at_least_one(chosen, candidate, rng)
    labels = np.where(chosen, ids, IGNORE)
    inputs = ids.copy()
    r = rng.random(ids.shape)
    inputs[chosen & (r < 0.8)] = special.mask
    swap = chosen & (r >= 0.8) & (r < 0.9)
    replacements = rng.integers(0, vocab, size=int(swap.sum()))
    # A special token is a poor "random word": keep the original there instead.
    keep = np.isin(replacements, special.all_ids)
    replacements[keep] = ids[swap][keep]
    inputs[swap] = replacements
    return inputs, labels


def _at_least_one(chosen: np.ndarray, candidate: np.ndarray, rng: np.random.Generator) -> None:
    """In place: rows with a candidate but no chosen position get one random candidate."""
    empty = ~chosen.any(1) & candidate.any(1)
    if empty.any():
        pick = np.argmax(rng.random(candidate.shape) * candidate, axis=1)  # random candidate
        rows = np.flatnonzero(empty)
        chosen[rows, pick[rows]] = True


def crop_texts(
    ids: np.ndarray,
    mask: np.ndarray,
    min_ratio: float,
    max_ratio: float,
    pad: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """A random contiguous span of each text (Contriever's independent cropping), kept
    between the text's first and last tokens ([CLS] ... [SEP]). The span covers a share of
    the words drawn uniformly in [min_ratio, max_ratio], at least one token.
    ids (B, T), mask (B, T) bool -> ids (B, T'), mask (B, T'), left-aligned and padded."""
    lengths = mask.sum(1)  # (B,)
    inner = np.maximum(lengths - 2, 0)  # tokens between the opening and closing ones
    span = np.maximum(np.rint(inner * rng.uniform(min_ratio, max_ratio, len(ids))), 1)
    span = np.minimum(span, inner).astype(np.int64)
    start = 1 + np.floor(rng.random(len(ids)) * (inner - span + 1)).astype(np.int64)
    return _spans(ids, lengths, start, start + span, pad)


def _spans(
    ids: np.ndarray, lengths: np.ndarray, lo: np.ndarray, hi: np.ndarray, pad: int
) -> tuple[np.ndarray, np.ndarray]:
    """Tokens [lo, hi) of each text between its first and last tokens; a text of fewer
    than two tokens stays as it is. ids (B, T), lengths, lo, hi (B,) -> ids (B, T'),
    mask (B, T') bool, left-aligned and padded."""
    new_len = np.where(lengths >= 2, hi - lo + 2, lengths)
    T = max(int(new_len.max(initial=1)), 1)
    out = np.full((len(ids), T), pad, dtype=ids.dtype)
    for row in range(len(ids)):
        n = int(lengths[row])
        if n < 2:
            out[row, :n] = ids[row, :n]
            continue
        body = ids[row, lo[row] : hi[row]]
        out[row, 0], out[row, 1 : 1 + len(body)], out[row, 1 + len(body)] = (
            ids[row, 0],
            body,
            ids[row, n - 1],
        )
    return out, np.arange(T)[None, :] < new_len[:, None]


def split_texts(
    ids: np.ndarray,
    mask: np.ndarray,
    word_start: np.ndarray,
    min_ratio: float,
    max_ratio: float,
    pad: int,
    rng: np.random.Generator,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Each text cut in two disjoint parts at a random point (the inverse cloze task's
    idea): the first part covers a share of the words drawn in [min_ratio, max_ratio],
    the second the rest, each kept between the text's first and last tokens. No token is
    in both, so the views can only be matched by what the parts say about each other
    (a request and the issue behind it), not by a word they share. The cut falls before a
    word's first token (word_start (V,) bool, by token id), the nearest one to the drawn
    share: cutting inside a word would let the halves be matched by its two pieces.
    ids (B, T), mask (B, T) bool -> ((ids_a, mask_a), (ids_b, mask_b)), each (B, T') padded."""
    lengths = mask.sum(1)  # (B,)
    inner = np.maximum(lengths - 2, 0)
    want = 1 + inner * rng.uniform(min_ratio, max_ratio, len(ids))  # (B,) token position
    pos = np.arange(ids.shape[1])[None, :]  # (1, T)
    # Allowed cuts: a word's first token, after the first inner token, before the last one.
    allowed = word_start[ids] & (pos >= 2) & (pos <= lengths[:, None] - 2)  # (B, T)
    distance = np.where(allowed, np.abs(pos - want[:, None]), np.inf)
    fallback = np.clip(np.rint(want), 1, np.maximum(lengths - 2, 1))
    cut = np.where(allowed.any(1), distance.argmin(1), fallback).astype(np.int64) - 1
    cut = np.clip(cut, np.minimum(inner, 1), np.maximum(inner - 1, 0))  # both parts non-empty
    first = _spans(ids, lengths, np.ones_like(cut), 1 + cut, pad)
    return first, _spans(ids, lengths, 1 + cut, 1 + inner, pad)


def crop_sequences(
    seqs: list[np.ndarray],
    max_len: int,
    pad: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """A random window of at most max_len items of each sequence, left-aligned and padded.
    -> items (B, L) int64, mask (B, L) bool."""
    L = min(max_len, max(len(s) for s in seqs))
    items = np.full((len(seqs), L), pad, dtype=np.int64)
    for row, seq in enumerate(seqs):
        start = int(rng.integers(0, len(seq) - L + 1)) if len(seq) > L else 0
        window = seq[start : start + L]
        items[row, : len(window)] = window
    return items, items != pad


def mask_items(
    items: np.ndarray,
    mask: np.ndarray,
    mask_id: int,
    prob: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Masked-item inputs (BERT4Rec: always the MASK id) and labels. (B, L) -> (B, L), (B, L)."""
    chosen = mask & (rng.random(items.shape) < prob)
    _at_least_one(chosen, mask, rng)
    return np.where(chosen, mask_id, items), np.where(chosen, items, IGNORE)


@dataclass(frozen=True)
class Slices:
    """Per-rank batch sizes: a global batch split evenly, capped by the pool's size."""

    text: int
    pairs: int
    sequences: int
    items: int


class PretrainBatches(Dataset):
    """Map-style dataset over steps: `ds[step]` is this rank's share of that step's batch.

    Keys (absent when the objective is off), shapes per rank:
      text_a_ids, text_a_labels, text_a_mask (B, T); text_b_* the same, (B, T')
      pair_ids, pair_mask (P, T); pair_images (P, S, S, 3) uint8; patch_mask (P, N) bool
      seq_items, seq_labels, seq_mask (S, L)
      item_idx (I,); item_ids, item_mask (I, T); item_images (I, S, S, 3); item_has_image (I,)
      n_samples, n_tokens: scalar counts for throughput
    """

    def __init__(
        self,
        corpus: PretrainCorpus,
        tokenizer: Tokenizer,
        model_cfg: ModelConfig,
        train_cfg: TrainConfig,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.cfg = train_cfg
        self.rank, self.world = rank, world_size
        self.special = SpecialTokens.of(tokenizer)
        self.vocab = model_cfg.text.vocab_size
        # Token ids that begin a word (not a "##" continuation): where split views may cut.
        self.word_start = np.array(
            [not (tokenizer.id_to_token(i) or "").startswith("##") for i in range(self.vocab)]
        )
        self.n_items = corpus.n_items
        self.seq_len = model_cfg.behaviour.max_len
        n_patch_side = model_cfg.image.image_size // model_cfg.image.patch_size
        self.n_patches = n_patch_side**2
        # Every text of the corpus, tokenized once: texts, then item texts, then captions.
        max_len = model_cfg.text.max_len
        self.text_pool = encode_texts(
            tokenizer, corpus.texts + corpus.item_texts + corpus.captions, max_len
        )
        self.item_text_offset = len(corpus.texts)
        caption_offset = len(corpus.texts) + corpus.n_items
        # Image–text pairs: captions, then items that have an image.
        has = np.asarray(corpus.item_has_image)
        item_with_image = np.flatnonzero(has)
        self.pair_text_rows = np.concatenate(
            [
                caption_offset + np.arange(len(corpus.captions)),
                self.item_text_offset + item_with_image,
            ]
        ).astype(np.int64)
        self.caption_images, self.item_images, self.item_has_image = (
            corpus.caption_images,
            corpus.item_images,
            has,
        )
        self.pair_item_rows = np.concatenate(
            [np.full(len(corpus.captions), -1), item_with_image]
        ).astype(np.int64)  # -1: a caption image; else the item whose image it is
        self.sequences = [s for s in corpus.sequences if len(s) >= 2]
        seen = (
            np.unique(np.concatenate(self.sequences)) if self.sequences else np.zeros(0, np.int64)
        )
        self.behaviour_items = seen  # items with a history: their id embedding means something
        self.active = self._active_objectives(train_cfg)
        pools = {
            "text": len(self.text_pool),
            "pairs": len(self.pair_text_rows),
            "sequences": len(self.sequences),
            "items": len(seen),
        }
        self.slices = Slices(
            text=self._per_rank(train_cfg.batch_text, pools["text"], "text"),
            pairs=self._per_rank(train_cfg.batch_pairs, pools["pairs"], "pairs"),
            sequences=self._per_rank(train_cfg.batch_sequences, pools["sequences"], "sequences"),
            items=self._per_rank(train_cfg.batch_items, pools["items"], "items"),
        )
        logger.info("pretraining pools %s; active objectives %s", pools, self.active)

    def _active_objectives(self, cfg: TrainConfig) -> list[str]:
        feeds = {
            "mlm": len(self.text_pool) >= 1,
            "text_contrastive": len(self.text_pool) >= 2,
            "image_text": len(self.pair_text_rows) >= 2,
            "masked_patch": len(self.pair_text_rows) >= 1,
            "masked_item": self.n_items > 0 and len(self.sequences) >= 1,
            "content_behaviour": len(self.behaviour_items) >= 2,
        }
        for name, fed in feeds.items():
            if cfg.weight(name) > 0 and not fed:
                logger.warning("objective %s is switched off: the corpus has no data for it", name)
        return [n for n, fed in feeds.items() if fed and cfg.weight(n) > 0]

    def _per_rank(self, batch: int, pool: int, what: str) -> int:
        if pool == 0:
            return 0
        if batch > pool:
            logger.info("batch of %s capped at the pool size %d (was %d)", what, pool, batch)
        per_rank = min(batch, pool) // self.world
        if per_rank < 1:
            raise ValueError(
                f"{what}: a global batch of {min(batch, pool)} cannot feed {self.world} ranks"
            )
        return per_rank

    def __len__(self) -> int:
        return self.cfg.steps

    def _rows(self, step: int, pool: int, per_rank: int, stream: int) -> np.ndarray:
        pos = global_positions(step, pool, per_rank * self.world, self.cfg.seed, stream)
        return pos[self.rank * per_rank : (self.rank + 1) * per_rank]

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.cfg.seed, step, self.rank, 7919])
        out: dict[str, np.ndarray] = {}
        n_samples = n_tokens = 0
        active = set(self.active)
        if active & {"mlm", "text_contrastive"}:
            rows = self._rows(step, len(self.text_pool), self.slices.text, _TEXT)
            ids, mask = self.text_pool.take(rows)
            halves = (
                split_texts(ids, mask, self.word_start, *self.cfg.crop_ratio, self.special.pad, rng)
                if self.cfg.text_views == "split"
                else None
            )
            for j, view in enumerate(("a", "b")):
                v_ids, v_mask = ids, mask
                if self.cfg.text_views == "crops":
                    v_ids, v_mask = crop_texts(
                        ids, mask, *self.cfg.crop_ratio, self.special.pad, rng
                    )
                elif halves is not None:
                    v_ids, v_mask = halves[j]
                inputs, labels = mask_tokens(
                    v_ids, v_mask, self.special, self.vocab, self.cfg.mask_prob, rng
                )
                out[f"text_{view}_ids"], out[f"text_{view}_labels"] = inputs, labels
                out[f"text_{view}_mask"] = v_mask
                n_tokens += int(v_mask.sum())
            n_samples += len(rows)
        if active & {"image_text", "masked_patch"}:
            rows = self._rows(step, len(self.pair_text_rows), self.slices.pairs, _PAIRS)
            out["pair_ids"], out["pair_mask"] = self.text_pool.take(self.pair_text_rows[rows])
            out["pair_images"] = self._pair_images(rows)
            if "masked_patch" in active:
                candidate = np.ones((len(rows), self.n_patches), dtype=bool)
                chosen = rng.random(candidate.shape) < self.cfg.patch_mask_prob
                _at_least_one(chosen, candidate, rng)
                out["patch_mask"] = chosen
            n_samples += len(rows)
            n_tokens += int(out["pair_mask"].sum())
        if "masked_item" in active:
            rows = self._rows(step, len(self.sequences), self.slices.sequences, _SEQS)
            items, mask = crop_sequences(
                [self.sequences[r] for r in rows], self.seq_len, self.n_items, rng
            )
            out["seq_items"], out["seq_labels"] = mask_items(
                items, mask, self.n_items + 1, self.cfg.item_mask_prob, rng
            )
            out["seq_mask"] = mask
            n_samples += len(rows)
            n_tokens += int(mask.sum())
        if "content_behaviour" in active:
            rows = self._rows(step, len(self.behaviour_items), self.slices.items, _ITEMS)
            idx = self.behaviour_items[rows]
            out["item_idx"] = idx
            out["item_ids"], out["item_mask"] = self.text_pool.take(self.item_text_offset + idx)
            if self.item_has_image[idx].any():
                out["item_images"] = self.item_images[idx]
                out["item_has_image"] = self.item_has_image[idx]
            n_samples += len(rows)
            n_tokens += int(out["item_mask"].sum())
        batch = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}
        batch["n_samples"] = torch.tensor(n_samples)
        batch["n_tokens"] = torch.tensor(n_tokens)
        return batch

    def _pair_images(self, rows: np.ndarray) -> np.ndarray:
        items = self.pair_item_rows[rows]
        from_items = items >= 0
        size = (self.caption_images if len(self.caption_images) else self.item_images).shape[1:]
        images = np.empty((len(rows), *size), dtype=np.uint8)
        if (~from_items).any():
            images[~from_items] = self.caption_images[rows[~from_items]]
        if from_items.any():
            images[from_items] = self.item_images[items[from_items]]
        return images

    def item_content_inputs(self) -> tuple[EncodedTexts, np.ndarray | None, np.ndarray | None]:
        """Every catalogue item's tokenized text, images and has_image, for content refresh."""
        rows = self.item_text_offset + np.arange(self.n_items)
        texts = EncodedTexts(self.text_pool.ids[rows], self.text_pool.lengths[rows])
        if not self.item_has_image.any():
            return texts, None, None
        return texts, self.item_images, self.item_has_image
