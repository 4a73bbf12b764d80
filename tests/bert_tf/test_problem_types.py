"""Tests for bert_tf.problem_types: how multi-label and single-label runs read, score and decide
labels, and the single-label classifier's softmax."""

import keras
import numpy as np
import pytest
from absl import logging
from tiny_configs import tiny_overrides

import backbones
from bert_tf import problem_types
from bert_tf.classifier import MultiLabelClassifier, SingleLabelClassifier
from bert_tf.errors import InputError
from bert_tf.finetuning import FinetuneConfig
from bert_tf.labeled_data import LabeledExamples, LabelSet

MULTI = problem_types.get("multi_label")
SINGLE = problem_types.get("single_label")


def examples(labels, path="train.txt"):
    return LabeledExamples([f"text {i}" for i in range(len(labels))], labels, path, 0, 0)


def test_unknown_problem_type_lists_the_known_ones():
    with pytest.raises(InputError, match="multi_label.*single_label"):
        problem_types.get("regression")


def test_one_label_a_line_in_a_multi_label_run_logs_a_hint(monkeypatch):
    warnings = []
    monkeypatch.setattr(logging, "warning", lambda message, *args: warnings.append(message % args))
    MULTI.check_train_examples(examples([["a"], ["b", "c"]]))
    assert warnings == []
    MULTI.check_train_examples(examples([["a"], ["b"], ["a"]]))
    (warning,) = warnings
    assert "train.txt" in warning and "--problem_type=single_label" in warning


def test_single_label_needs_two_classes():
    SINGLE.check_train_examples(examples([["a"], ["b"]]))
    with pytest.raises(InputError, match="train.txt: every line has the label a"):
        SINGLE.check_train_examples(examples([["a"], ["a"]]))


def test_single_label_truth_numbers_unseen_classes_after_the_label_set():
    label_set = LabelSet(["b", "a"])
    truth = SINGLE.truth(label_set, [["a"], ["zz"], ["b"], ["new"], ["zz"]])
    assert truth.names == ["b", "a", "new", "zz"]
    np.testing.assert_array_equal(truth.indices, [1, 3, 0, 2, 3])
    np.testing.assert_array_equal(
        MULTI.truth(label_set, [["a", "b"], ["zz"]]), [[True, True], [False, False]]
    )


def test_single_label_epoch_scores_count_unseen_classes_as_errors():
    truth = SINGLE.truth(LabelSet(["a", "b"]), [["a"], ["b"], ["b"], ["new"]])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    scores = SINGLE.epoch_scores(probabilities, truth)
    assert scores["valid_accuracy"] == pytest.approx(2 / 4)
    # Predicted a, b, a, b. F1: a 2/3 (1 tp, 1 fp), b 1/2 (1 tp, 1 fp, 1 fn), new 0.
    assert scores["valid_macro_f1"] == pytest.approx((2 / 3 + 2 / 4 + 0) / 3)
    assert problem_types.selection_metric(SINGLE) in scores


def test_the_epoch_is_chosen_on_the_default_figure_or_the_one_named():
    assert problem_types.selection_metric(MULTI) == "valid_mean_f1"
    assert problem_types.selection_metric(SINGLE) == "valid_accuracy"
    assert problem_types.selection_metric(MULTI, "micro_f1") == "valid_micro_f1"
    assert problem_types.selection_metric(SINGLE, "macro_f1") == "valid_macro_f1"
    scores = MULTI.epoch_scores(np.array([[0.9, 0.2], [0.1, 0.8]]), np.eye(2, dtype=bool))
    assert scores["valid_mean_f1"] == pytest.approx(
        (scores["valid_micro_f1"] + scores["valid_macro_f1"]) / 2
    )


@pytest.mark.parametrize(
    "problem_type, choice", [("single_label", "mean_f1"), ("multi_label", "accuracy")]
)
def test_an_epoch_selection_the_problem_type_does_not_score_is_an_error(problem_type, choice):
    with pytest.raises(InputError, match=f"--select_epoch_on={choice}: {problem_type}"):
        FinetuneConfig(problem_type=problem_type, select_epoch_on=choice).validate()


def test_single_label_final_scores_have_a_confusion_matrix_and_per_class_rows():
    label_set = LabelSet(["a", "b"])
    truths = {
        "valid": SINGLE.truth(label_set, [["a"], ["b"]]),
        "test": SINGLE.truth(label_set, [["a"], ["b"], ["b"], ["c"]]),
    }
    evaluated = {
        "valid": (np.array([[0.9, 0.1], [0.2, 0.8]]), 0.3),
        "test": (np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]), 0.5),
    }
    results = SINGLE.final_scores(evaluated, truths)
    assert results["valid"] == {"accuracy": 1.0, "macro_f1": 1.0, "loss": 0.3}
    assert results["test"]["accuracy"] == pytest.approx(0.5) and results["test"]["loss"] == 0.5
    assert results["test_confusion_matrix"] == {
        "labels": ["a", "b", "c"],
        "matrix": [[1, 0, 0], [1, 1, 0], [0, 1, 0]],
    }
    assert [row["name"] for row in results["test_per_label"]] == ["b", "a", "c"]


def test_decisions_follow_the_problem_type():
    probabilities = np.array([[0.6, 0.3, 0.7], [0.1, 0.2, 0.05]])
    np.testing.assert_array_equal(
        MULTI.decide(probabilities, 0.5), [[True, False, True], [False, True, False]]
    )
    np.testing.assert_array_equal(
        SINGLE.decide(probabilities), [[False, False, True], [False, True, False]]
    )


def test_single_label_initial_bias_starts_the_softmax_at_the_class_shares():
    targets = np.eye(3, dtype=np.float32)[[0, 0, 0, 1, 2, 0, 1, 0]]
    bias = SINGLE.initial_bias(targets)
    shares = np.exp(bias) / np.exp(bias).sum()
    np.testing.assert_allclose(shares, [5 / 8, 2 / 8, 1 / 8], rtol=1e-5)


def tiny_backbone(name):
    config = backbones.backbone_config(
        name, 60, "tiny", max_sequence_length=16, **tiny_overrides(name)
    )
    return backbones.build(name, config)


def test_single_label_classifier_is_a_softmax_with_cross_entropy():
    model = SingleLabelClassifier(tiny_backbone("transformer"), 3, "mean", dropout=0.0)
    inputs = {
        "token_ids": np.array([[2, 7, 9, 3], [2, 11, 3, 0]], np.int32),
        "segment_ids": np.zeros((2, 4), np.int32),
        "padding_mask": np.array([[1, 1, 1, 1], [1, 1, 1, 0]], np.int32),
    }
    labels = np.array([[0, 0, 1], [1, 0, 0]], np.float32)
    loss, _ = model.loss_and_metrics(dict(inputs, labels=labels))
    logits = keras.ops.convert_to_numpy(model(inputs)).astype(np.float64)
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert float(loss) == pytest.approx(-np.mean(np.log(softmax[[0, 1], [2, 0]])), rel=1e-4)
    probabilities = keras.ops.convert_to_numpy(model.probabilities(model(inputs)))
    np.testing.assert_allclose(probabilities, softmax, rtol=1e-5)
    assert model.problem_type == "single_label" and MultiLabelClassifier.problem_type == (
        "multi_label"
    )
    assert SINGLE.classifier_class is SingleLabelClassifier
