"""Classification metrics: accuracy, F1, out-of-scope detection, calibration, OOS threshold.

Labels may be strings or integers. Out-of-scope (OOS) is a label of its own in the true
labels (`oos_label`, default "oos"); a classifier predicts OOS when its top in-scope
probability falls below a threshold chosen on validation data (`choose_oos_threshold`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.metrics import f1_score

logger = logging.getLogger(__name__)

OOS_LABEL = "oos"
ThresholdCriterion = Literal["macro_f1", "balanced"]


def accuracy(y_true: Sequence | np.ndarray, y_pred: Sequence | np.ndarray) -> float:
    """Share of examples whose predicted label equals the true label. y_true, y_pred: (n,)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def macro_f1(
    y_true: Sequence | np.ndarray,
    y_pred: Sequence | np.ndarray,
    labels: Sequence | None = None,
) -> float:
    """Unweighted mean of per-class F1 over `labels` (default: every label seen in either).

    Passing the full label list penalises a model that never predicts a class the data
    holds (its F1 is 0). A label with no true and no predicted example is left out: its
    F1 is 0/0, and scoring it 0 would lower every model's figure for a class the data
    does not hold (the intent labels always include `oos`; Banking77 has none).
    """
    y_true, y_pred = _pair(y_true, y_pred)
    scores = per_class_f1(y_true, y_pred, labels)
    return float(np.mean(list(scores.values()))) if scores else 0.0


def per_class_f1(
    y_true: Sequence | np.ndarray,
    y_pred: Sequence | np.ndarray,
    labels: Sequence | None = None,
) -> dict[str, float]:
    """F1 per class, keyed by str(label), in the order of `labels` (default: sorted union);
    a label with no true and no predicted example has no F1 and is left out."""
    y_true, y_pred = _pair(y_true, y_pred)
    seen = np.unique(np.concatenate([y_true, y_pred])).tolist()
    present = set(seen)
    labels = seen if labels is None else [label for label in labels if label in present]
    if not labels:
        return {}
    scores = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {str(label): float(s) for label, s in zip(labels, scores, strict=True)}


def oos_recall(
    y_true: Sequence | np.ndarray, y_pred: Sequence | np.ndarray, oos_label: object = OOS_LABEL
) -> float:
    """Share of truly out-of-scope examples that were flagged out-of-scope.

    y_true, y_pred: (n,) labels, or boolean OOS flags (True = out of scope). NaN when there is
    no true OOS example: the quantity is undefined, and 0 or 1 would both be misleading.
    """
    t, p = _oos_flags(y_true, oos_label), _oos_flags(y_pred, oos_label)
    _check_len(t, p)
    return float(np.sum(t & p) / t.sum()) if t.any() else float("nan")


def oos_precision(
    y_true: Sequence | np.ndarray, y_pred: Sequence | np.ndarray, oos_label: object = OOS_LABEL
) -> float:
    """Share of examples flagged out-of-scope that truly are. NaN when none was flagged."""
    t, p = _oos_flags(y_true, oos_label), _oos_flags(y_pred, oos_label)
    _check_len(t, p)
    return float(np.sum(t & p) / p.sum()) if p.any() else float("nan")


def predict_with_oos(
    probs: np.ndarray, classes: Sequence, threshold: float, oos_label: object = OOS_LABEL
) -> np.ndarray:
    """Top class per row, or `oos_label` where the top probability is below `threshold`.

    probs: (n, C) probabilities over the in-scope `classes` (length C). Returns (n,) labels.
    """
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f"probs must be (n, {len(classes)}), got {probs.shape}")
    # One array holding classes and the OOS label, so numpy sizes a string dtype for both;
    # mixed types (int classes, str OOS label) stay objects rather than becoming strings.
    names = [*classes, oos_label]
    same_type = len({type(x) for x in names}) == 1
    vocabulary = np.asarray(names) if same_type else np.asarray(names, dtype=object)
    index = np.where(probs.max(axis=1) < threshold, len(classes), probs.argmax(axis=1))
    return vocabulary[index]


@dataclass(frozen=True)
class CalibrationBins:
    """Reliability statistics over equal-width confidence bins.

    Bin b covers (edges[b], edges[b+1]]; a confidence of exactly 0 falls in bin 0.
    edges: (n_bins + 1,); count, accuracy, confidence: (n_bins,), NaN where a bin is empty.
    """

    edges: np.ndarray
    count: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error: sum over bins of (n_b / n) * |accuracy_b - conf_b|."""
        filled = self.count > 0
        weights = self.count[filled] / self.count.sum()
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float(np.sum(weights * gaps))


def calibration_bins(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15
) -> CalibrationBins:
    """Bin (n,) confidences in [0, 1] with their (n,) 0/1 correctness into equal-width bins."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    _check_len(confidence, correct)
    if confidence.size == 0:
        raise ValueError("calibration needs at least one example")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if np.any((confidence < 0) | (confidence > 1)) or not np.all(np.isfinite(confidence)):
        raise ValueError("confidences must be finite and within [0, 1]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # searchsorted on the inner edges counts edges strictly below x: bins closed on the right.
    bin_of = np.searchsorted(edges[1:-1], confidence, side="left")
    count = np.bincount(bin_of, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(bin_of, weights=correct, minlength=n_bins) / count
        conf = np.bincount(bin_of, weights=confidence, minlength=n_bins) / count
    return CalibrationBins(edges=edges, count=count, accuracy=acc, confidence=conf)


def expected_calibration_error(
    probs: np.ndarray, y_true: Sequence | np.ndarray, n_bins: int = 15
) -> float:
    """ECE of the top-class confidence with `n_bins` equal-width bins over [0, 1].

    probs: (n, C) predicted probabilities; y_true: (n,) integer class indices in [0, C).
    For intent routing, pass the in-scope examples only: an OOS example has no correct class.
    """
    probs = np.asarray(probs, dtype=float)
    y_true = np.asarray(y_true)
    if probs.ndim != 2:
        raise ValueError(f"probs must be (n, C), got {probs.shape}")
    correct = probs.argmax(axis=1) == y_true
    return calibration_bins(probs.max(axis=1), correct, n_bins).ece


@dataclass(frozen=True)
class OOSThreshold:
    """The chosen out-of-scope threshold and what it achieved on the validation data."""

    threshold: float
    criterion: str
    score: float
    in_scope_accuracy: float
    oos_recall: float
    oos_precision: float


def choose_oos_threshold(
    probs: np.ndarray,
    y_true: Sequence | np.ndarray,
    classes: Sequence,
    oos_label: object = OOS_LABEL,
    criterion: ThresholdCriterion = "macro_f1",
) -> OOSThreshold:
    """Pick the top-probability threshold below which a prediction becomes out-of-scope.

    probs: (n, C) validation probabilities over the in-scope `classes`; y_true: (n,) labels,
    each one of `classes` or `oos_label`. Every distinct split of the sorted top
    probabilities is tried (thresholds sit midway between neighbours, so a plateau is not
    decided by one example's exact score). Criteria:

    - "macro_f1": macro-F1 over the C in-scope classes plus OOS as one more class.
    - "balanced": mean of in-scope accuracy (a rejected in-scope example counts as wrong)
      and OOS recall.

    Ties go to the lowest threshold: reject no more than the criterion asks for.
    """
    probs = np.asarray(probs, dtype=float)
    n_classes = len(classes)
    if probs.ndim != 2 or probs.shape[1] != n_classes or probs.shape[0] == 0:
        raise ValueError(f"probs must be (n > 0, {n_classes}), got {probs.shape}")
    position = {label: i for i, label in enumerate(classes)}
    position[oos_label] = n_classes
    try:
        true_idx = np.array([position[label] for label in np.asarray(y_true).tolist()])
    except KeyError as missing:
        raise ValueError(f"label {missing} is neither a class nor {oos_label!r}") from None
    _check_len(true_idx, probs)
    is_oos = true_idx == n_classes
    n_oos, n_in = int(is_oos.sum()), int((~is_oos).sum())
    if n_oos == 0 or n_in == 0:
        raise ValueError("the validation set needs both in-scope and out-of-scope examples")

    top = probs.max(axis=1)
    arg = probs.argmax(axis=1)
    order = np.argsort(top, kind="stable")
    top, arg, true_idx, is_oos = top[order], arg[order], true_idx[order], is_oos[order]

    # Rejecting the k least confident examples; k only changes where the top value does.
    ks = np.concatenate([[0], np.flatnonzero(np.diff(top) > 0) + 1, [len(top)]])
    ks = np.unique(ks)
    thresholds = np.zeros(len(ks))  # k = 0: threshold 0 keeps every example
    inner = (ks > 0) & (ks < len(top))
    thresholds[inner] = (top[ks[inner] - 1] + top[ks[inner]]) / 2
    thresholds[ks == len(top)] = np.nextafter(top[-1], np.inf)

    onehot_pred = np.eye(n_classes)[arg]  # (n, C)
    correct = (arg == true_idx)[:, None] * onehot_pred  # (n, C): true positives by class
    cum_tp = _cumulative(correct)[ks]  # (K, C): true positives among the rejected
    cum_pred = _cumulative(onehot_pred)[ks]
    tp_in = correct.sum(axis=0) - cum_tp  # (K, C) kept true positives
    pred_in = onehot_pred.sum(axis=0) - cum_pred
    true_in = np.bincount(true_idx[~is_oos], minlength=n_classes)  # (C,)
    tp_oos = _cumulative(is_oos[:, None].astype(float))[ks, 0]  # (K,)
    pred_oos = ks.astype(float)

    in_scope_acc = tp_in.sum(axis=1) / n_in
    recall = tp_oos / n_oos
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(pred_oos > 0, tp_oos / pred_oos, np.nan)
    if criterion == "macro_f1":
        f1_in = _f1(tp_in, pred_in, true_in[None, :])
        f1_oos = _f1(tp_oos, pred_oos, float(n_oos))
        scores = (f1_in.sum(axis=1) + f1_oos) / (n_classes + 1)
    elif criterion == "balanced":
        scores = (in_scope_acc + recall) / 2
    else:
        raise ValueError(f"unknown criterion {criterion!r}; use 'macro_f1' or 'balanced'")

    best = int(np.argmax(scores))  # first maximum = lowest threshold
    chosen = OOSThreshold(
        threshold=float(thresholds[best]),
        criterion=criterion,
        score=float(scores[best]),
        in_scope_accuracy=float(in_scope_acc[best]),
        oos_recall=float(recall[best]),
        oos_precision=float(precision[best]),
    )
    logger.info("OOS threshold %.4f (%s = %.4f)", chosen.threshold, criterion, chosen.score)
    return chosen


def classification_metrics(
    y_true: Sequence | np.ndarray,
    y_pred: Sequence | np.ndarray,
    labels: Sequence | None = None,
    oos_label: object | None = None,
) -> dict[str, float]:
    """Flat dict of the headline metrics: accuracy, macro_f1, f1/<class>, and with an
    `oos_label` also oos_recall, oos_precision and in_scope_accuracy (rejections count as
    wrong). y_true, y_pred: (n,) labels."""
    y_true, y_pred = _pair(y_true, y_pred)
    out = {"accuracy": accuracy(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred, labels)}
    out.update({f"f1/{k}": v for k, v in per_class_f1(y_true, y_pred, labels).items()})
    if oos_label is not None:
        out["oos_recall"] = oos_recall(y_true, y_pred, oos_label)
        out["oos_precision"] = oos_precision(y_true, y_pred, oos_label)
        in_scope = y_true != oos_label
        out["in_scope_accuracy"] = (
            accuracy(y_true[in_scope], y_pred[in_scope]) if in_scope.any() else float("nan")
        )
    return out


def _f1(tp: np.ndarray, pred: np.ndarray, true: np.ndarray | float) -> np.ndarray:
    # 2TP / (pred + true) equals 2PR / (P + R); an empty class scores 0, as in sklearn.
    denom = pred + true
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 2 * tp / denom, 0.0)


def _cumulative(x: np.ndarray) -> np.ndarray:
    """(n, m) -> (n + 1, m): row k holds the column sums of the first k rows."""
    return np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])


def _oos_flags(y: Sequence | np.ndarray, oos_label: object) -> np.ndarray:
    y = np.asarray(y)
    return y.astype(bool) if y.dtype == bool else y == oos_label


def _pair(y_true: Sequence | np.ndarray, y_pred: Sequence | np.ndarray):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    _check_len(y_true, y_pred)
    if y_true.size == 0:
        raise ValueError("metrics need at least one example")
    return y_true, y_pred


def _check_len(a: np.ndarray, b: np.ndarray) -> None:
    if len(a) != len(b):
        raise ValueError(f"length mismatch: {len(a)} vs {len(b)}")
