"""What the pretrain stage's downstream checks may see, decided once, from the aligned views.

- k-shot probes: each labeled text table's labeled *training* rows are the pool the k
  examples per class are drawn from (as the fine-tunes' k-shot subsets are); the probe is
  scored on the *validation* split, the one the fine-tunes validate on (at most max_val
  rows, a seeded sample).
- next-item recall: each user's training items as history, their validation item as the
  target (the recommender's validation protocol); the test item is never read.
- image<->text retrieval: one half of pretraining's held-out pairs (never seen in
  pretraining); the other half stays for the retrieval figures reported after
  pretraining, so those are not measured on the pairs that chose the checkpoint.

Nothing of the test split is read: the text views are filtered by split before their
texts are touched, and the sequences view is read without its test column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from karpa.align.splits import TRAIN
from karpa.align.stage import TASK_LABELS
from karpa_models.checks import ChecksData, ProbeData
from karpa_models.corpus import RetrievalSet

VAL = "val"


def _sample(frame: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= limit else frame.sample(n=limit, random_state=seed).sort_index()


def probe_data(views: Path, task: str, max_val: int, seed: int) -> ProbeData | None:
    """The pool and validation texts of one labeled table, or None when it has no labeled
    training or validation rows."""
    view, _, label = TASK_LABELS[task]
    path = Path(views) / f"{view}.parquet"
    if not path.is_file():
        return None
    frame = pd.read_parquet(path, columns=["text", label, "split"])
    labeled = frame[frame[label].notna()]
    pool = labeled[labeled["split"] == TRAIN]
    val = _sample(labeled[labeled["split"] == VAL], max_val, seed)
    if pool[label].nunique() < 2 or val.empty:
        return None
    return ProbeData(
        train_texts=pool["text"].fillna("").astype(str).tolist(),
        train_labels=pool[label].astype(str).tolist(),
        val_texts=val["text"].fillna("").astype(str).tolist(),
        val_labels=val[label].astype(str).tolist(),
    )


def next_item_data(views: Path, max_val: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """(histories, targets) of at most max_val users with a validation item."""
    path = Path(views) / "sequences.parquet"
    if not path.is_file():
        return [], np.zeros(0, dtype=np.int64)
    seqs = pd.read_parquet(path, columns=["train_items", "val_item"])
    seqs = _sample(seqs[seqs["val_item"].notna()], max_val, seed)
    histories = [np.asarray(h, dtype=np.int64) for h in seqs["train_items"]]
    return histories, seqs["val_item"].to_numpy(dtype=np.int64)


def split_held(held: RetrievalSet) -> tuple[RetrievalSet, RetrievalSet]:
    """Held-out pairs -> (for the checks: every other pair, for the report: the rest)."""
    n = len(held.captions)
    parts = []
    for rows in (np.arange(0, n, 2), np.arange(1, n, 2)):
        items = held.item_indices is not None
        parts.append(
            RetrievalSet(
                captions=[held.captions[i] for i in rows],
                images=held.images[rows],
                item_indices=held.item_indices[rows] if items else None,
                item_texts=[held.item_texts[i] for i in rows] if items else None,
                item_images=held.item_images[rows] if held.item_images is not None else None,
                item_has_image=(
                    held.item_has_image[rows] if held.item_has_image is not None else None
                ),
            )
        )
    return parts[0], parts[1]


def checks_data(views: Path, check_pairs: RetrievalSet, max_val: int, seed: int) -> ChecksData:
    probes = {
        task: data
        for task in sorted(TASK_LABELS)
        if (data := probe_data(views, task, max_val, seed)) is not None
    }
    histories, targets = next_item_data(views, max_val, seed)
    return ChecksData(
        probes=probes,
        retrieval=check_pairs if len(check_pairs.captions) > 1 else None,
        histories=histories,
        targets=targets,
    )
