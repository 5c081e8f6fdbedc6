"""Deterministic splits.

Text tasks split by a hash of the entity id and a salt, so the same id lands in the same
split whatever the row order, the machine or the batch it arrived in. Behaviour splits
leave the last interaction out for test and the one before it for validation.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

TRAIN, VAL, TEST = "train", "val", "test"


def hash_unit(ids: pd.Series, salt: str) -> np.ndarray:
    """A stable number in [0, 1) per id: the first 8 bytes of sha256(salt:id)."""
    out = np.empty(len(ids), dtype=np.float64)
    for i, value in enumerate(ids.astype(str)):
        digest = hashlib.sha256(f"{salt}:{value}".encode()).digest()
        out[i] = int.from_bytes(digest[:8], "big") / 2**64
    return out


def hash_split(ids: pd.Series, salt: str, val_share: float, test_share: float) -> np.ndarray:
    """`test` for the lowest `test_share` of hash values, then `val`, then `train`."""
    u = hash_unit(ids, salt)
    return np.where(u < test_share, TEST, np.where(u < test_share + val_share, VAL, TRAIN))


def stratified_hash_split(
    ids: pd.Series, labels: pd.Series, salt: str, val_share: float, test_share: float
) -> np.ndarray:
    """`hash_split` done within each label: of every label's n rows, the round(test_share*n)
    lowest hash values go to `test`, the next round(val_share*n) to `val`, so each split
    holds every class in proportion (a plain hash split only does so on average). Rows
    without a label keep the plain hash split. Depends on the ids, labels and salt only,
    never on row order."""
    u = hash_unit(ids, salt)
    out = hash_split(ids, salt, val_share, test_share).astype(object)
    values = labels.to_numpy(dtype=object)
    labeled = labels.notna().to_numpy()
    for label in sorted(set(values[labeled].tolist())):
        rows = np.flatnonzero(labeled & (values == label))
        ranked = rows[np.argsort(u[rows], kind="stable")]  # lowest hash first
        n_test = round(test_share * len(rows))
        n_val = round(val_share * len(rows))
        out[ranked] = TRAIN
        out[ranked[: n_test + n_val]] = VAL
        out[ranked[:n_test]] = TEST
    return out.astype(str)


def source_split(
    ids: pd.Series,
    pattern: str | None,
    salt: str,
    val_share: float,
    test_share: float,
    strata: pd.Series | None = None,
) -> np.ndarray:
    """The source's official split where the id shows one (group `split` of `pattern`), the
    hash split elsewhere (stratified by `strata`, the rows' labels, when given). A source
    with no validation split of its own (Banking77: train and test) gives `val_share` of
    its training rows, chosen by hash, to validation."""
    hashed = (
        hash_split(ids, salt, val_share, test_share)
        if strata is None
        else stratified_hash_split(ids, strata, salt, val_share, test_share)
    )
    if not pattern:
        return hashed
    given = ids.astype(str).str.extract(pattern)["split"]
    official = given.isin([TRAIN, VAL, TEST]).to_numpy()
    out = np.where(official, given.to_numpy(dtype=object), hashed)
    if not (given == VAL).any():
        carve = (given == TRAIN).to_numpy() & (hash_unit(ids, salt + ":val") < val_share)
        out = np.where(carve, VAL, out)
    return out.astype(str)


def leave_last_out(items: list[int]) -> tuple[list[int], int | None, int | None]:
    """(train history, validation target, test target) of one chronological sequence.

    Sequences shorter than three interactions have no room for both held-out targets and
    stay wholly in training, so every evaluated user has at least one item of history.
    """
    if len(items) < 3:
        return list(items), None, None
    return list(items[:-2]), items[-2], items[-1]


def stratified_k_shot(
    labels: pd.Series, k: int, seed: int, exclude: frozenset[str] = frozenset()
) -> pd.Index:
    """Index of up to `k` examples per class (all of a class that has fewer), by seed.

    Sampling is per class from the examples sorted by index, so the subset depends on the
    seed and the data only, never on row order.
    """
    rng = np.random.default_rng(seed)
    chosen: list[pd.Index] = []
    for label in sorted(set(labels.dropna()) - exclude):
        members = labels.index[labels == label].sort_values()
        take = min(k, len(members))
        chosen.append(members[np.sort(rng.choice(len(members), size=take, replace=False))])
    return chosen[0].append(chosen[1:]) if chosen else pd.Index([])
