"""Tests for pretrain_tasks.masked_lm: one-hot gathering, the tied head, the weighted loss."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import backbones
from pretrain_tasks.masked_lm import MaskedLM, MaskedLMHead, gather_by_one_hot

VOCABULARY, HIDDEN, BATCH, LENGTH, PREDICTIONS = 30, 8, 3, 12, 4


def test_gather_by_one_hot_equals_batched_gather():
    rng = np.random.default_rng(0)
    sequence = rng.normal(size=(BATCH, LENGTH, HIDDEN)).astype(np.float32)
    positions = rng.integers(0, LENGTH, size=(BATCH, PREDICTIONS)).astype(np.int32)
    positions[0] = [3, 3, 0, LENGTH - 1]  # repeats and both ends
    gathered = keras.ops.convert_to_numpy(gather_by_one_hot(sequence, positions))
    expected = tf.gather(sequence, positions, batch_dims=1).numpy()
    assert gathered.shape == (BATCH, PREDICTIONS, HIDDEN)
    np.testing.assert_allclose(gathered, expected, rtol=1e-6, atol=1e-6)


def make_head():
    embedding = keras.layers.Embedding(VOCABULARY, HIDDEN, name="token_embedding")
    embedding.build((None, None))
    head = MaskedLMHead(embedding, name="masked_lm")
    rng = np.random.default_rng(1)
    outputs = {"sequence_output": tf.constant(rng.normal(size=(BATCH, LENGTH, HIDDEN)), tf.float32)}
    batch = {
        "masked_lm_positions": tf.constant(rng.integers(0, LENGTH, (BATCH, PREDICTIONS)), tf.int32)
    }
    return embedding, head, outputs, batch


def test_head_logits_shape_and_tied_to_the_embedding():
    embedding, head, outputs, batch = make_head()
    logits = keras.ops.convert_to_numpy(head(outputs, batch))
    assert logits.shape == (BATCH, PREDICTIONS, VOCABULARY)
    # The head owns no [V, E] output matrix: only the transform, LayerNorm and a [V] bias.
    own_shapes = sorted(tuple(v.shape) for v in head.weights if v is not embedding.embeddings)
    assert (VOCABULARY, HIDDEN) not in own_shapes and (HIDDEN, VOCABULARY) not in own_shapes
    assert (VOCABULARY,) in own_shapes
    # Logits are the transformed vectors times the embedding matrix, transposed, plus the bias.
    gathered = gather_by_one_hot(outputs["sequence_output"], batch["masked_lm_positions"])
    hidden = keras.ops.convert_to_numpy(head.layer_norm(head.transform(gathered)))
    expected = hidden @ embedding.embeddings.numpy().T + head.output_bias.numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    # Changing one row of the embedding changes the logits of that token, and only those.
    changed = embedding.embeddings.numpy()
    changed[7] += 1.0
    embedding.embeddings.assign(changed)
    new_logits = keras.ops.convert_to_numpy(head(outputs, batch))
    assert not np.allclose(new_logits[..., 7], logits[..., 7])
    np.testing.assert_allclose(np.delete(new_logits, 7, -1), np.delete(logits, 7, -1), atol=1e-6)


def test_task_head_uses_the_backbones_token_embedding(tiny_backbone_config_factory):
    name = sorted(backbones.BACKBONES)[0]
    backbone = backbones.build(name, tiny_backbone_config_factory(name, vocabulary_size=VOCABULARY))
    head = MaskedLM(VOCABULARY, 16).build_head(backbone)
    assert head.token_embedding is backbone.token_embedding
    assert head.name == "masked_lm"


def loss_of(logits, labels, weights):
    task = MaskedLM(VOCABULARY, LENGTH, max_predictions_per_seq=PREDICTIONS)
    batch = {
        "masked_lm_ids": tf.constant(labels, tf.int32),
        "masked_lm_weights": tf.constant(weights),
    }
    loss, metrics = task.loss_and_metrics(tf.constant(logits), batch)
    return float(loss), {k: float(v) for k, v in metrics.items()}


def test_loss_is_the_mean_over_real_predictions_and_ignores_weight_zero():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, PREDICTIONS, VOCABULARY)).astype(np.float32)
    labels = rng.integers(5, VOCABULARY, size=(2, PREDICTIONS))
    weights = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], np.float32)
    loss, metrics = loss_of(logits, labels, weights)
    log_probabilities = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    per_position = -np.take_along_axis(log_probabilities, labels[..., None], -1)[..., 0]
    expected = per_position[weights == 1].mean()
    assert loss == pytest.approx(expected, rel=1e-4)
    assert metrics["loss"] == pytest.approx(loss)
    # Anything at weight-0 positions (padding) leaves the loss unchanged ...
    noisy_logits, noisy_labels = logits.copy(), labels.copy()
    noisy_logits[weights == 0] = 50 * rng.normal(size=noisy_logits[weights == 0].shape)
    noisy_labels[weights == 0] = 0
    assert loss_of(noisy_logits, noisy_labels, weights)[0] == pytest.approx(loss, rel=1e-5)
    # ... while a change at a real position does not.
    changed = logits.copy()
    changed[1, 0] = 50 * rng.normal(size=VOCABULARY)
    assert loss_of(changed, labels, weights)[0] != pytest.approx(loss, rel=1e-3)


def test_accuracy_counts_only_real_predictions():
    logits = np.full((1, PREDICTIONS, VOCABULARY), -5.0, np.float32)
    labels = np.array([[5, 6, 7, 8]])
    for position, predicted in enumerate([5, 6, 9, 9]):  # right, right, wrong, wrong
        logits[0, position, predicted] = 5.0
    assert loss_of(logits, labels, np.array([[1, 1, 1, 0]], np.float32))[1]["accuracy"] == (
        pytest.approx(2 / 3, rel=1e-4)
    )
    assert loss_of(logits, labels, np.array([[1, 1, 0, 0]], np.float32))[1]["accuracy"] == (
        pytest.approx(1.0, rel=1e-4)
    )
