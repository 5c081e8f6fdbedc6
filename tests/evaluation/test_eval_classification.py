"""Classification metrics against hand-computed cases."""

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score

from karpa.evaluation.classification import (
    accuracy,
    calibration_bins,
    choose_oos_threshold,
    classification_metrics,
    expected_calibration_error,
    macro_f1,
    oos_precision,
    oos_recall,
    per_class_f1,
    predict_with_oos,
)

Y_TRUE = ["a", "a", "b", "b", "c", "oos"]
Y_PRED = ["a", "b", "b", "b", "oos", "oos"]
LABELS = ["a", "b", "c", "oos"]


def test_accuracy_hand_case():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)


def test_per_class_and_macro_f1_hand_case():
    # a: P=1, R=1/2 -> 2/3; b: P=2/3, R=1 -> 0.8; c: never right -> 0; oos: P=1/2, R=1 -> 2/3.
    f1 = per_class_f1(Y_TRUE, Y_PRED, LABELS)
    assert f1 == pytest.approx({"a": 2 / 3, "b": 0.8, "c": 0.0, "oos": 2 / 3})
    assert macro_f1(Y_TRUE, Y_PRED, LABELS) == pytest.approx((2 / 3 + 0.8 + 0 + 2 / 3) / 4)


def test_macro_f1_leaves_out_a_label_the_data_does_not_hold():
    # Banking77's case: the intent labels include oos, the test split has none and the
    # model never rejects. oos has no F1; the intents' mean is the figure.
    y_true, y_pred = ["a", "a", "b"], ["a", "b", "b"]
    assert per_class_f1(y_true, y_pred, ["a", "b", "oos"]) == pytest.approx(
        {"a": 2 / 3, "b": 2 / 3}
    )
    assert macro_f1(y_true, y_pred, ["a", "b", "oos"]) == pytest.approx(2 / 3)
    # A held class the model never predicts still scores 0.
    assert macro_f1(["a", "b"], ["a", "a"], ["a", "b", "oos"]) == pytest.approx((2 / 3 + 0) / 2)
    assert macro_f1(["x"], ["x"], ["a"]) == 0.0  # no listed label held: all wrong


def test_oos_recall_and_precision_hand_case():
    assert oos_recall(Y_TRUE, Y_PRED) == pytest.approx(1.0)
    assert oos_precision(Y_TRUE, Y_PRED) == pytest.approx(0.5)
    # The same from boolean flags.
    true_flags = np.array(Y_TRUE) == "oos"
    pred_flags = np.array(Y_PRED) == "oos"
    assert oos_recall(true_flags, pred_flags) == pytest.approx(1.0)
    assert oos_precision(true_flags, pred_flags) == pytest.approx(0.5)
    # Two true OOS, one caught; three flagged, one right.
    y_true = ["oos", "oos", "a", "b"]
    y_pred = ["oos", "a", "oos", "oos"]
    assert oos_recall(y_true, y_pred) == pytest.approx(0.5)
    assert oos_precision(y_true, y_pred) == pytest.approx(1 / 3)


def test_oos_metrics_undefined_are_nan():
    assert math.isnan(oos_recall(["a", "b"], ["a", "oos"]))
    assert math.isnan(oos_precision(["a", "oos"], ["a", "b"]))


def test_classification_metrics_collects_everything():
    out = classification_metrics(Y_TRUE, Y_PRED, LABELS, oos_label="oos")
    assert out["accuracy"] == pytest.approx(4 / 6)
    assert out["f1/b"] == pytest.approx(0.8)
    assert out["oos_precision"] == pytest.approx(0.5)
    assert out["in_scope_accuracy"] == pytest.approx(3 / 5)


def test_ece_hand_case():
    probs = np.array(
        [
            [0.9, 0.05, 0.05],  # conf 0.9, correct
            [0.9, 0.05, 0.05],  # conf 0.9, wrong
            [0.6, 0.3, 0.1],  # conf 0.6, correct (bin (0.4, 0.6], right-closed)
            [0.4, 0.35, 0.25],  # conf 0.4, wrong
        ]
    )
    y = np.array([0, 1, 0, 2])
    bins = calibration_bins(probs.max(axis=1), probs.argmax(axis=1) == y, n_bins=5)
    assert bins.count.tolist() == [0, 1, 1, 0, 2]
    # 0.5 * |0.5 - 0.9| + 0.25 * |1 - 0.6| + 0.25 * |0 - 0.4| = 0.4
    assert expected_calibration_error(probs, y, n_bins=5) == pytest.approx(0.4)


def test_ece_zero_when_calibrated():
    probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(probs, [0, 1]) == pytest.approx(0.0)
    # Half right at confidence 0.5: calibrated too.
    probs = np.array([[0.5, 0.5]] * 4)
    assert expected_calibration_error(probs, [0, 1, 0, 1], n_bins=10) == pytest.approx(0.0)


def test_calibration_rejects_out_of_range():
    with pytest.raises(ValueError):
        calibration_bins(np.array([1.2]), np.array([1]))


def test_predict_with_oos_keeps_long_label():
    probs = np.array([[0.9, 0.1], [0.55, 0.45]])
    out = predict_with_oos(probs, ["a", "b"], threshold=0.6, oos_label="out_of_scope")
    assert out.tolist() == ["a", "out_of_scope"]
    mixed = predict_with_oos(probs, [0, 1], threshold=0.6, oos_label="oos")
    assert mixed.tolist() == [0, "oos"]


@pytest.mark.parametrize("criterion", ["macro_f1", "balanced"])
def test_threshold_separates_clean_case(criterion):
    # In-scope top probabilities 0.7-0.9, out-of-scope 0.5-0.55: cut midway, at 0.625.
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.45, 0.55], [0.5, 0.5]])
    y = ["a", "b", "a", "oos", "oos"]
    chosen = choose_oos_threshold(probs, y, ["a", "b"], criterion=criterion)
    assert chosen.threshold == pytest.approx(0.625)
    assert chosen.score == pytest.approx(1.0)
    assert chosen.oos_recall == chosen.oos_precision == chosen.in_scope_accuracy == 1.0


def test_threshold_matches_brute_force_macro_f1():
    rng = np.random.default_rng(3)
    n, classes = 300, ["a", "b", "c"]
    logits = rng.normal(size=(n, 3)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.where(rng.random(n) < 0.25, "oos", np.array(classes)[probs.argmax(axis=1)])
    flip = rng.random(n) < 0.2
    y[flip] = rng.choice([*classes, "oos"], size=flip.sum())
    chosen = choose_oos_threshold(probs, y, classes)

    top = np.sort(np.unique(probs.max(axis=1)))
    candidates = np.concatenate([[0.0], (top[:-1] + top[1:]) / 2, [np.nextafter(top[-1], 1)]])
    scores = [
        f1_score(
            y,
            predict_with_oos(probs, classes, t),
            labels=[*classes, "oos"],
            average="macro",
            zero_division=0,
        )
        for t in candidates
    ]
    best = int(np.argmax(scores))
    assert chosen.score == pytest.approx(scores[best])
    assert chosen.threshold == pytest.approx(candidates[best])


def test_threshold_needs_oos_examples():
    with pytest.raises(ValueError, match="out-of-scope"):
        choose_oos_threshold(np.array([[0.9, 0.1]]), ["a"], ["a", "b"])
    with pytest.raises(ValueError, match="neither"):
        choose_oos_threshold(np.array([[0.9, 0.1]]), ["zzz"], ["a", "b"])
