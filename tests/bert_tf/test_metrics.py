"""Tests for bert_tf.metrics: decisions, F1 scores and threshold tuning."""

import numpy as np
import pytest

from bert_tf.metrics import (
    decide_labels,
    format_per_label_table,
    multilabel_scores,
    per_label_scores,
    tune_threshold,
    weighted_micro_f1,
)

# Hand-computed case, labels 0..3 (label 3 occurs in neither matrix):
#   label 0: true rows {0,2}, pred {0,2} -> tp 2, fp 0, fn 0 -> F1 1
#   label 1: true rows {1,2}, pred {1}   -> tp 1, fp 0, fn 1 -> P 1, R 1/2, F1 2/3
#   label 2: true rows {0},   pred {1}   -> tp 0, fp 1, fn 1 -> F1 0
#   label 3: no true, no pred            -> F1 undefined, left out of macro
#   micro: tp 3, fp 1, fn 2 -> P 3/4, R 3/5, F1 = 6 / (6 + 1 + 2) = 2/3
#   macro over labels 0..2: (1 + 2/3 + 0) / 3 = 5/9 (5/12 if label 3 counted as 0)
#   mean: (2/3 + 5/9) / 2 = 11/18
Y_TRUE = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0]], dtype=bool)
Y_PRED = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [1, 0, 0, 0]], dtype=bool)


def test_multilabel_scores_hand_computed():
    scores = multilabel_scores(Y_TRUE, Y_PRED)
    assert scores["precision"] == pytest.approx(3 / 4)
    assert scores["recall"] == pytest.approx(3 / 5)
    assert scores["micro_f1"] == pytest.approx(2 / 3)
    assert scores["macro_f1"] == pytest.approx(5 / 9)
    assert scores["mean_f1"] == pytest.approx(11 / 18)


def test_multilabel_scores_accepts_float_multi_hot():
    assert multilabel_scores(Y_TRUE.astype(np.float32), Y_PRED.astype(np.float32)) == (
        multilabel_scores(Y_TRUE, Y_PRED)
    )


def test_multilabel_scores_zero_division_gives_zero():
    empty = np.zeros((2, 3), dtype=bool)
    assert multilabel_scores(empty, empty) == {
        "micro_f1": 0.0,
        "macro_f1": 0.0,
        "mean_f1": 0.0,
        "precision": 0.0,
        "recall": 0.0,
    }
    # Nothing predicted: precision 0/0 -> 0, recall 0/1 -> 0.
    truth = np.array([[True, False]])
    assert multilabel_scores(truth, np.zeros_like(truth))["precision"] == 0.0


def test_per_label_scores_sorted_by_support():
    rows = per_label_scores(Y_TRUE, Y_PRED, ["l0", "l1", "l2", "l3"])
    # Supports: l0 2, l1 2, l2 1, l3 0; ties keep column order.
    assert [row["name"] for row in rows] == ["l0", "l1", "l2", "l3"]
    assert [row["support"] for row in rows] == [2, 2, 1, 0]
    assert rows[1]["precision"] == pytest.approx(1.0)
    assert rows[1]["recall"] == pytest.approx(0.5)
    assert rows[1]["f1"] == pytest.approx(2 / 3)
    assert rows[3] == {"name": "l3", "support": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    flipped = per_label_scores(Y_TRUE[:, ::-1], Y_PRED[:, ::-1], ["l3", "l2", "l1", "l0"])
    assert [row["name"] for row in flipped] == ["l1", "l0", "l2", "l3"]


def test_format_per_label_table_is_fixed_width():
    rows = per_label_scores(Y_TRUE, Y_PRED, ["sports", "a", "long_label_name", "x"])
    lines = format_per_label_table(rows).split("\n")
    assert len(lines) == 5
    assert lines[0].split() == ["label", "support", "precision", "recall", "f1"]
    assert len({len(line) for line in lines}) == 1
    assert lines[2].split() == ["a", "2", "1.0000", "0.5000", "0.6667"]


def test_decide_labels_threshold_and_top1_guarantee():
    probs = np.array([[0.9, 0.6, 0.1], [0.2, 0.3, 0.1], [0.1, 0.1, 0.5]], dtype=np.float32)
    decided = decide_labels(probs, 0.5)
    # Row 1 has nothing >= 0.5 but still gets its top-1 label (column 1).
    np.testing.assert_array_equal(decided, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    assert decided.dtype == bool
    per_label = decide_labels(probs, np.array([0.95, 0.25, 0.05]))
    np.testing.assert_array_equal(per_label, [[1, 1, 1], [0, 1, 1], [0, 0, 1]])
    with pytest.raises(ValueError):
        decide_labels(probs, np.array([0.5, 0.5]))


def test_decide_labels_same_decision_for_python_and_numpy_threshold():
    probs = np.array([[0.35, 0.9]], dtype=np.float32)
    assert decide_labels(probs, 0.35)[0, 0]
    assert decide_labels(probs, np.float64(0.35))[0, 0]


def test_tune_threshold_separates_perfectly():
    rng = np.random.default_rng(0)
    truth = rng.random((200, 5)) < 0.3
    truth[np.arange(200), rng.integers(0, 5, 200)] = True  # every row has a label
    positive = rng.uniform(0.7, 1.0, truth.shape)
    probs = np.where(truth, positive, rng.uniform(0.0, 0.4, truth.shape))
    threshold = tune_threshold(probs, truth)
    assert isinstance(threshold, float)
    assert probs[~truth].max() < threshold <= probs[truth].min()
    assert multilabel_scores(truth, decide_labels(probs, threshold))["micro_f1"] == 1.0


def test_tune_threshold_per_label_differs_where_labels_need_it():
    # Label 2 is always true at 0.95, so it is every row's top-1 and forces no error.
    # Label 0 needs a threshold in (0.6, 0.8], label 1 one in (0.1, 0.3]: no single value works.
    # Label 3 never occurs in y_true and must keep the global threshold.
    n = 40
    truth = np.zeros((n, 4), dtype=bool)
    truth[:, 2] = True
    truth[: n // 2, 0] = True
    truth[n // 4 : 3 * n // 4, 1] = True
    probs = np.zeros((n, 4), dtype=np.float32)
    probs[:, 0] = np.where(truth[:, 0], 0.8, 0.6)
    probs[:, 1] = np.where(truth[:, 1], 0.3, 0.1)
    probs[:, 2] = 0.95
    probs[:, 3] = np.linspace(0.0, 0.9, n)

    global_threshold = tune_threshold(probs, truth)
    assert multilabel_scores(truth, decide_labels(probs, global_threshold))["micro_f1"] < 1.0

    thresholds = tune_threshold(probs, truth, per_label=True)
    assert thresholds.shape == (4,)
    assert 0.6 < thresholds[0] <= 0.8
    assert 0.1 < thresholds[1] <= 0.3
    assert thresholds[3] == global_threshold
    decided = decide_labels(probs, thresholds)
    np.testing.assert_array_equal(decided[:, :3], truth[:, :3])


def test_tune_threshold_matches_brute_force_over_grid():
    rng = np.random.default_rng(1)
    truth = rng.random((300, 8)) < 0.2
    probs = np.clip(truth * 0.3 + rng.random(truth.shape) * 0.7, 0, 1).astype(np.float32)
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    micro = [multilabel_scores(truth, decide_labels(probs, t))["micro_f1"] for t in grid]
    assert tune_threshold(probs, truth) == grid[int(np.argmax(micro))]

    thresholds = tune_threshold(probs, truth, per_label=True)
    names = list("abcdefgh")
    tables = [per_label_scores(truth, decide_labels(probs, t), names) for t in grid]
    for j, name in enumerate(names):
        label_f1 = [next(row["f1"] for row in rows if row["name"] == name) for rows in tables]
        assert thresholds[j] == grid[int(np.argmax(label_f1))]


def test_weighted_micro_f1_on_known_counts():
    y_true = np.array([[1, 0, 1], [1, 1, 0]], bool)
    y_pred = np.array([[1, 1, 1], [0, 0, 0]], bool)
    # Row 0: tp 2, fp 1. Row 1: fn 2.
    assert weighted_micro_f1(y_true, y_pred, [1, 1]) == pytest.approx(4 / 7)
    assert weighted_micro_f1(y_true, y_pred, [1, 1]) == pytest.approx(
        multilabel_scores(y_true, y_pred)["micro_f1"]
    )
    # Row 1 at half weight: tp 2, wrong 1 + 0.5 * 2.
    assert weighted_micro_f1(y_true, y_pred, [1, 0.5]) == pytest.approx(4 / 6)


def test_shrinkage_moves_a_label_the_share_its_positives_earn():
    """k = n: halfway from the global threshold to the label's own best."""
    n = 40
    truth = np.zeros((n, 4), dtype=bool)
    truth[:, 2] = True
    truth[: n // 2, 0] = True
    probs = np.zeros((n, 4), dtype=np.float32)
    probs[:, 0] = np.where(truth[:, 0], 0.8, 0.6)
    probs[:, 2] = 0.95
    own = tune_threshold(probs, truth, per_label=True)
    global_threshold = tune_threshold(probs, truth)
    shrunk = tune_threshold(probs, truth, per_label=True, shrinkage=n // 2)
    assert shrunk[0] == pytest.approx((own[0] + global_threshold) / 2)
    huge = tune_threshold(probs, truth, per_label=True, shrinkage=1e9)
    np.testing.assert_allclose(huge, global_threshold, atol=1e-6)
