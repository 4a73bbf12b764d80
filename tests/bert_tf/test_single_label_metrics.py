"""Tests for bert_tf.single_label_metrics, checked against scikit-learn's."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from bert_tf import single_label_metrics


def test_confusion_matrix_rows_are_truth_and_columns_predictions():
    matrix = single_label_metrics.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 4)
    np.testing.assert_array_equal(matrix, [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]])
    with pytest.raises(ValueError, match="0..3"):
        single_label_metrics.confusion_matrix([0, 4], [0, 0], 4)


def test_scores_and_per_class_rows_agree_with_scikit_learn():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 6, 300)
    predicted = np.where(rng.random(300) < 0.6, truth, rng.integers(0, 5, 300))
    matrix = single_label_metrics.confusion_matrix(truth, predicted, 7)  # class 6 never occurs
    scores = single_label_metrics.scores(matrix)
    assert scores["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert scores["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"))

    names = [f"c{c}" for c in range(7)]
    rows = {row["name"]: row for row in single_label_metrics.per_class_scores(matrix, names)}
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=range(7), zero_division=0
    )
    for c in range(7):
        row = rows[f"c{c}"]
        assert row["support"] == support[c]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx(
            (precision[c], recall[c], f1[c])
        )


def test_a_class_never_predicted_counts_zero_in_macro_f1():
    # Class 1 occurs but is never predicted: its F1 is 0 and it counts; class 2 neither
    # occurs nor is predicted, so it does not.
    matrix = single_label_metrics.confusion_matrix([0, 0, 1], [0, 0, 0], 3)
    scores = single_label_metrics.scores(matrix)
    assert scores["accuracy"] == pytest.approx(2 / 3)
    assert scores["macro_f1"] == pytest.approx((0.8 + 0.0) / 2)
    rows = single_label_metrics.per_class_scores(matrix, ["a", "b", "c"])
    assert [row["name"] for row in rows] == ["a", "b", "c"]  # by support, then index
    assert rows[1] == {"name": "b", "support": 1, "precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_empty_scores_are_zero():
    assert single_label_metrics.scores(np.zeros((2, 2), np.int64)) == {
        "accuracy": 0.0,
        "macro_f1": 0.0,
    }
