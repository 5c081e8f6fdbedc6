"""Item-sequence batches for next-item fine-tuning and scoring (numpy only).

Index conventions are the behaviour tower's: items 0..n_items-1, PAD = n_items,
MASK = n_items + 1. Sequences are left-aligned (position 0 is the oldest item kept), as in
pretraining. Two layouts, one per attention mode of the recommender:
- bidirectional (BERT4Rec): the history, then the MASK that asks for the next item;
- causal (SASRec): MASK as a start token, then the history, every item shifted one place
  right, so that position t has seen the items before t and predicts item t. The query
  for the next item is the last position, and an empty history is [MASK] in both.
Either way the query of a history of n kept items is position n.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

IGNORE = -100  # label of positions that predict nothing (cross_entropy's ignore_index)


def history_batch(
    histories: Sequence[Sequence[int]], max_len: int, n_items: int, causal: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The last max_len - 1 items of each history and a MASK: after them (bidirectional)
    or before them (causal), see the module docstring.

    -> items (U, L) int64, mask (U, L) bool, query (U,) int64: the position whose state
    scores the next item. An empty history is just [MASK]: the model then falls back on
    what it learned of the catalogue as a whole.
    """
    pad, mask_id = n_items, n_items + 1
    kept = [list(h)[-(max_len - 1) :] if max_len > 1 else [] for h in histories]
    L = max(1, max((len(h) for h in kept), default=0) + 1)
    items = np.full((len(kept), L), pad, dtype=np.int64)
    query = np.zeros(len(kept), dtype=np.int64)
    for row, h in enumerate(kept):
        if causal:
            items[row, 0] = mask_id
            items[row, 1 : len(h) + 1] = h
        else:
            items[row, : len(h)] = h
            items[row, len(h)] = mask_id
        query[row] = len(h)
    return items, items != pad, query


def draw_cuts(sequences: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """A cut per sequence (each of length >= 2), uniform in [1, len - 1]: the item at
    the cut is the target, the items before it the history. -> (B,) int64."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    if lengths.size and lengths.min() < 2:
        raise ValueError("next-item training needs sequences of at least two items")
    return (1 + np.floor(rng.random(len(lengths)) * (lengths - 1))).astype(np.int64)


def draw_window_ends(
    sequences: Sequence[np.ndarray], max_len: int, rng: np.random.Generator
) -> np.ndarray:
    """The last target of a causal training window per sequence (each of length >= 2):
    the window is as long as the tower allows, its end uniform over the ends that keep it
    so (a sequence shorter than the window is taken whole). -> (B,) int64, in [1, len - 1].
    """
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    if lengths.size and lengths.min() < 2:
        raise ValueError("next-item training needs sequences of at least two items")
    first = np.minimum(lengths - 1, max_len - 1)  # the earliest end with a full window
    return (first + np.floor(rng.random(len(lengths)) * (lengths - first))).astype(np.int64)


def length_grouped(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, group: int = 16
) -> list[np.ndarray]:
    """Row batches of similar length, in random order: shuffle, cut into groups of
    `group` batches, sort each group by length and split it. Padding, hence compute,
    then follows each batch's own lengths rather than its longest random member."""
    order = rng.permutation(len(lengths))
    out = []
    for start in range(0, len(order), batch_size * group):
        chunk = order[start : start + batch_size * group]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        out += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [out[i] for i in rng.permutation(len(out))]


def next_item_batch(
    sequences: Sequence[np.ndarray],
    cuts: np.ndarray,
    max_len: int,
    n_items: int,
    cloze_prob: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training examples, one per sequence, cut at cuts (B,) (see draw_cuts).

    The input is up to max_len - 1 items before the cut, then MASK, labelled with the
    item at the cut. With cloze_prob, earlier positions are also masked and labelled with
    their own item (BERT4Rec's Cloze task).
    -> items (B, L) int64, mask (B, L) bool, labels (B, L) int64 (IGNORE where unlabelled).
    """
    pad, mask_id = n_items, n_items + 1
    pairs = list(zip(sequences, cuts.tolist(), strict=True))
    windows = [seq[max(0, c - (max_len - 1)) : c] for seq, c in pairs]
    targets = [int(seq[c]) for seq, c in pairs]
    L = max(len(w) for w in windows) + 1
    items = np.full((len(windows), L), pad, dtype=np.int64)
    labels = np.full((len(windows), L), IGNORE, dtype=np.int64)
    for row, (window, target) in enumerate(zip(windows, targets, strict=True)):
        items[row, : len(window)] = window
        items[row, len(window)] = mask_id
        labels[row, len(window)] = target
    if cloze_prob > 0:
        history = (items != pad) & (items != mask_id)
        chosen = history & (rng.random(items.shape) < cloze_prob)
        labels[chosen] = items[chosen]
        items[chosen] = mask_id
    return items, items != pad, labels


def causal_batch(
    sequences: Sequence[np.ndarray], ends: np.ndarray, max_len: int, n_items: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Causal training windows, one per sequence, ending at ends (B,) (see
    draw_window_ends): MASK, then up to max_len - 1 items before the end; position t is
    labelled with the item that follows what it has seen (SASRec's all-position
    next-item task), the last position with the item at the end. Position 0 (nothing seen)
    is labelled only where the window starts the sequence: there it teaches the empty
    history's answer, elsewhere it would ask for a mid-sequence item out of nothing.
    -> items (B, L) int64, mask (B, L) bool, labels (B, L) int64 (IGNORE where unlabelled).
    """
    pad, mask_id = n_items, n_items + 1
    starts = [max(0, e - (max_len - 1)) for e in ends.tolist()]
    L = max(e - s for s, e in zip(starts, ends.tolist(), strict=True)) + 1
    items = np.full((len(starts), L), pad, dtype=np.int64)
    labels = np.full((len(starts), L), IGNORE, dtype=np.int64)
    for row, (seq, start, end) in enumerate(zip(sequences, starts, ends.tolist(), strict=True)):
        n = end - start
        items[row, 0] = mask_id
        items[row, 1 : n + 1] = seq[start:end]
        labels[row, : n + 1] = seq[start : end + 1]
        if start > 0:
            labels[row, 0] = IGNORE
    return items, items != pad, labels
