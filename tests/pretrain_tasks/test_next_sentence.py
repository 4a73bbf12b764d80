"""Tests for pretrain_tasks.next_sentence: the 2-way head and its loss and accuracy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.pretraining_data import SINGLE_SEGMENT, ExampleLayout
from pretrain_tasks.base import PretrainingTask
from pretrain_tasks.next_sentence import NextSentence, NextSentenceHead


def test_head_is_two_way_on_the_pooled_output():
    head = NextSentence(30, 16).build_head(backbone=None)
    assert isinstance(head, NextSentenceHead) and head.name == "next_sentence"
    rng = np.random.default_rng(0)
    pooled = tf.constant(rng.normal(size=(3, 8)), tf.float32)
    sequence = tf.constant(rng.normal(size=(3, 5, 8)), tf.float32)
    logits = keras.ops.convert_to_numpy(
        head({"pooled_output": pooled, "sequence_output": sequence}, {})
    )
    assert logits.shape == (3, 2)
    # It reads the pooled output only.
    other_sequence = {"pooled_output": pooled, "sequence_output": 2 * sequence}
    np.testing.assert_allclose(keras.ops.convert_to_numpy(head(other_sequence, {})), logits)
    changed = keras.ops.convert_to_numpy(
        head({"pooled_output": pooled + 1.0, "sequence_output": sequence}, {})
    )
    assert not np.allclose(changed, logits)


def test_loss_and_accuracy_on_known_logits():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
    labels = np.array([0, 1, 1, 1], np.int32)
    loss, metrics = NextSentence(30, 16).loss_and_metrics(
        tf.constant(logits), {"next_sentence_labels": tf.constant(labels)}
    )
    log_probabilities = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -log_probabilities[np.arange(4), labels].mean()
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(metrics["loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(metrics["accuracy"]) == pytest.approx(0.75)


def test_next_sentence_asks_for_pairs_with_random_segments_half_the_time():
    assert NextSentence.example_layout == ExampleLayout.pairs(0.5)
    assert NextSentence.example_layout.sentence_pairs
    assert NextSentence.example_layout.random_next_rate == 0.5
    # Tasks need single segments unless they say otherwise.
    assert PretrainingTask.example_layout == SINGLE_SEGMENT
