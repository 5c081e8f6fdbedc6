"""Reading the aligned views into what the applications train and evaluate on.

The views (parquet files written by karpa.align.stage) already carry the splits and the
k-shot subsets; nothing here re-splits. A test set may be capped for speed by a seeded,
label-stratified sample, and every model of an application is evaluated on that one
sample.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from karpa_models.finetune.catalogue import ItemCatalogue

logger = logging.getLogger(__name__)

TEXT_TASKS = {
    "intent": ("messages", "message_id", "intent"),
    "sentiment": ("news", "news_id", "sentiment"),
}


@dataclass
class TextSplit:
    """Labeled texts: ids (n,), texts (n,), labels (n,) as str."""

    ids: list[str]
    texts: list[str]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(cls, frame: pd.DataFrame, id_col: str, label_col: str) -> TextSplit:
        texts = frame["text"].fillna("").astype(str).tolist()
        labels = frame[label_col].astype(str).to_numpy(dtype=object)
        return cls(frame[id_col].astype(str).tolist(), texts, labels)


@dataclass
class TextTask:
    """A text classification task on one split. train holds the in-scope labeled train
    examples; val and test hold every labeled example of their split (out-of-scope too).
    shots maps (k, seed) to a k-shot subset of train. unlabeled: every text of the table's
    training split, labeled or not, read without its label (what a probe self-trains on:
    the texts pretraining read)."""

    name: str
    classes: list[str]
    train: TextSplit
    val: TextSplit
    test: TextSplit
    shots: dict[tuple[int, int], TextSplit] = field(default_factory=dict)
    n_test_total: int = 0
    unlabeled: list[str] = field(default_factory=list)


def read_view(views_dir: Path, name: str) -> pd.DataFrame:
    path = Path(views_dir) / f"{name}.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"view {name!r} not found: {path} (run the align stage first)")
    return pd.read_parquet(path)


def capped(frame: pd.DataFrame, label_col: str, limit: int | None, seed: int) -> pd.DataFrame:
    """At most `limit` rows, sampled per label in proportion (seeded); all if no limit."""
    if limit is None or len(frame) <= limit:
        return frame
    share = limit / len(frame)
    parts = [
        group.sample(n=max(1, round(len(group) * share)), random_state=seed)
        for _, group in frame.groupby(label_col, sort=True)
    ]
    return pd.concat(parts).sort_index()


def text_test_rows(
    labeled: pd.DataFrame, label_col: str, limit: int | None, seed: int
) -> pd.DataFrame:
    """The test examples an application is evaluated on, and the gate judges it on:
    the labeled test split, capped by `capped` (the one selection both use)."""
    return capped(labeled[labeled["split"] == "test"], label_col, limit, seed)


def held_out_users(seqs: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """The users a recommender is evaluated and judged on: those with a validation and a
    test item, at most `limit` by a seeded sample, in user order."""
    held = seqs[seqs["val_item"].notna() & seqs["test_item"].notna()].sort_values("user_id")
    if limit is not None and len(held) > limit:
        held = held.sample(n=limit, random_state=seed)
    return held.sort_values("user_id")


def load_text_task(
    views_dir: Path,
    task: str,
    out_of_scope: Sequence[str] = (),
    max_test: int | None = None,
    ks: Sequence[int] | None = None,
    seeds: Sequence[int] | None = None,
    seed: int = 0,
) -> TextTask:
    """The labeled splits of `task` ("intent" or "sentiment") and its k-shot subsets.

    out_of_scope: labels never trained on (they stay in val and test). ks / seeds: the
    k-shot subsets to load (None: every k / seed that fewshot.parquet holds).
    """
    view, id_col, label_col = TEXT_TASKS[task]
    frame = read_view(views_dir, view)
    labeled = frame[frame[label_col].notna()]
    in_scope = ~labeled[label_col].isin(list(out_of_scope))
    train = labeled[(labeled["split"] == "train") & in_scope]
    classes = sorted(train[label_col].astype(str).unique())
    if len(classes) < 2:
        raise ValueError(f"{task}: the train split has {len(classes)} labeled class(es)")
    val = labeled[labeled["split"] == "val"]
    n_test_total = int((labeled["split"] == "test").sum())
    if len(val) == 0 or n_test_total == 0:
        raise ValueError(f"{task}: no labeled validation or test example in {views_dir}")
    # Val and test labels the model cannot predict (and are not out-of-scope) are kept:
    # they count as errors, as they would in production.
    test = text_test_rows(labeled, label_col, max_test, seed)
    result = TextTask(
        name=task,
        classes=classes,
        train=TextSplit.of(train, id_col, label_col),
        val=TextSplit.of(val, id_col, label_col),
        test=TextSplit.of(test, id_col, label_col),
        n_test_total=n_test_total,
        unlabeled=frame.loc[frame["split"] == "train", "text"].dropna().astype(str).tolist(),
    )
    result.shots = _shots(views_dir, task, train, id_col, label_col, ks, seeds)
    logger.info(
        "%s: %d classes, %d train (%d training texts in all), %d val, %d of %d test, "
        "%d k-shot subsets",
        task,
        len(classes),
        len(train),
        len(result.unlabeled),
        len(val),
        len(test),
        n_test_total,
        len(result.shots),
    )
    return result


def _shots(
    views_dir: Path,
    task: str,
    train: pd.DataFrame,
    id_col: str,
    label_col: str,
    ks: Sequence[int] | None,
    seeds: Sequence[int] | None,
) -> dict[tuple[int, int], TextSplit]:
    path = Path(views_dir) / "fewshot.parquet"
    if not path.is_file():
        logger.warning("%s: no fewshot.parquet, the learning curve has the full set only", task)
        return {}
    shots = pd.read_parquet(path)
    shots = shots[shots["task"] == task]
    by_id = train.set_index(train[id_col].astype(str))
    out: dict[tuple[int, int], TextSplit] = {}
    for (k, s), group in shots.groupby(["k", "seed"], sort=True):
        if (ks is not None and k not in ks) or (seeds is not None and s not in seeds):
            continue
        ids = [i for i in group["id"].astype(str) if i in by_id.index]
        if len(ids) < len(group):
            logger.warning(
                "%s k=%d seed=%d: %d ids are not labeled train examples",
                task,
                k,
                s,
                len(group) - len(ids),
            )
        subset = by_id.loc[ids]
        if subset[label_col].nunique() >= 2:
            out[(int(k), int(s))] = TextSplit.of(subset, id_col, label_col)
    return out


@dataclass
class RecData:
    """Leave-last-out recommendation data. Histories and targets are catalogue indices.

    train_sequences: every user's training items (the model and the baselines fit on these).
    val_*: users with a validation item: history = train items, target = validation item.
    test_*: the same users: history = train items + validation item, target = test item.
    item_counts (n_items,): occurrences in the training sequences.
    """

    catalogue: ItemCatalogue
    train_sequences: list[list[int]]
    val_histories: list[list[int]]
    val_targets: np.ndarray
    test_users: list[str]
    test_histories: list[list[int]]
    test_targets: np.ndarray
    item_counts: np.ndarray
    n_test_total: int = 0


def load_catalogue(views_dir: Path) -> ItemCatalogue:
    items = read_view(views_dir, "items").sort_values("item_idx")
    if not np.array_equal(items["item_idx"].to_numpy(), np.arange(len(items))):
        raise ValueError("items.item_idx must be 0..n-1 without gaps")
    has = items["has_image"].fillna(False).to_numpy(dtype=bool)
    images = None
    sizes = {len(p) for p in items.loc[has, "pixels"]}
    if has.any() and len(sizes) == 1:
        side = round((sizes.pop() / 3) ** 0.5)
        images = np.zeros((len(items), side, side, 3), dtype=np.uint8)
        for row in np.flatnonzero(has):
            raw = items["pixels"].iloc[row]
            images[row] = np.frombuffer(raw, dtype=np.uint8).reshape(side, side, 3)
    elif has.any():
        logger.warning("item images differ in size %s: content is text only", sorted(sizes))
        has = np.zeros(len(items), dtype=bool)
    return ItemCatalogue(
        item_ids=items["item_id"].astype(str).tolist(),
        texts=items["text"].fillna("").astype(str).tolist(),
        images=images,
        has_image=has if images is not None else None,
    )


def load_recommendation(views_dir: Path, max_test_users: int | None, seed: int) -> RecData:
    catalogue = load_catalogue(views_dir)
    seqs = read_view(views_dir, "sequences").sort_values("user_id")
    train = [list(map(int, s)) for s in seqs["train_items"]]
    counts = np.bincount(
        np.fromiter((i for s in train for i in s), dtype=np.int64), minlength=len(catalogue)
    )
    n_total = int((seqs["val_item"].notna() & seqs["test_item"].notna()).sum())
    held = held_out_users(seqs, max_test_users, seed)
    if len(held) == 0:
        raise ValueError("no user has validation and test items (sequences of >= 3 items)")
    val_hist = [list(map(int, s)) for s in held["train_items"]]
    val_items = held["val_item"].astype("int64").to_numpy()
    test_hist = [[*h, int(v)] for h, v in zip(val_hist, val_items, strict=True)]
    logger.info(
        "recommendation: %d items, %d training sequences, %d of %d held-out users",
        len(catalogue),
        len(train),
        len(held),
        n_total,
    )
    return RecData(
        catalogue=catalogue,
        train_sequences=train,
        val_histories=val_hist,
        val_targets=val_items,
        test_users=held["user_id"].astype(str).tolist(),
        test_histories=test_hist,
        test_targets=held["test_item"].astype("int64").to_numpy(),
        item_counts=counts,
        n_test_total=n_total,
    )
