"""Tests for bert_tf.classifier: masked pooling, the priors' log-odds, and the multi-label head
on every registered backbone."""

import keras
import numpy as np
import pytest
from tiny_configs import tiny_overrides

import backbones
from bert_tf.classifier import POOLINGS, MultiLabelClassifier, prior_log_odds
from bert_tf.errors import InputError
from bert_tf.finetuning import FinetuneConfig
from bert_tf.pooling import masked_max, masked_mean

VOCABULARY_SIZE = 60
NUM_LABELS = 5


def tiny_backbone(name):
    config = backbones.backbone_config(
        name, VOCABULARY_SIZE, "tiny", max_sequence_length=32, **tiny_overrides(name)
    )
    return backbones.build(name, config)


def batch(lengths, sequence_length, seed=0):
    """`[CLS] tokens [SEP]` rows of the given lengths, padded with 0 to `sequence_length`."""
    rng = np.random.default_rng(seed)
    token_ids = np.zeros((len(lengths), sequence_length), np.int32)
    padding_mask = np.zeros_like(token_ids)
    for row, length in enumerate(lengths):
        token_ids[row, :length] = rng.integers(5, VOCABULARY_SIZE, length)
        token_ids[row, 0], token_ids[row, length - 1] = 2, 3
        padding_mask[row, :length] = 1
    return {
        "token_ids": token_ids,
        "segment_ids": np.zeros_like(token_ids),
        "padding_mask": padding_mask,
    }


def test_masked_mean_ignores_padding():
    sequence = np.array(
        [[[1.0, 2.0], [3.0, 4.0], [1e6, -1e6]], [[5.0, -6.0], [7.0, 7.0], [9.0, 9.0]]],
        np.float32,
    )
    mask = np.array([[1, 1, 0], [1, 0, 0]], np.int32)
    expected = [[2.0, 3.0], [5.0, -6.0]]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(masked_mean(sequence, mask)), expected)
    # Whatever sits in the padding, the mean is the same.
    changed = sequence.copy()
    changed[mask == 0] = -123.0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(masked_mean(changed, mask)), expected)


def test_masked_mean_of_an_all_padding_row_is_finite():
    result = keras.ops.convert_to_numpy(
        masked_mean(np.ones((1, 3, 2), np.float32), np.zeros((1, 3), np.int32))
    )
    assert np.all(np.isfinite(result))


def test_masked_max_ignores_padding_even_when_real_values_are_negative():
    sequence = np.array(
        [[[-5.0, -1.0], [-3.0, -2.0], [100.0, 100.0]], [[-9.0, 4.0], [50.0, 50.0], [0.0, 0.0]]],
        np.float32,
    )
    mask = np.array([[1, 1, 0], [1, 0, 0]], np.int32)
    result = keras.ops.convert_to_numpy(masked_max(sequence, mask))
    np.testing.assert_allclose(result, [[-3.0, -1.0], [-9.0, 4.0]])


def test_prior_log_odds_values():
    labels = np.array([[1, 0, 1], [1, 0, 1], [1, 0, 1], [0, 0, 1]], np.float32)
    odds = prior_log_odds(labels)
    assert odds.dtype == np.float32 and odds.shape == (3,)
    assert odds[0] == pytest.approx(np.log(3.0), rel=1e-5)  # rate 3/4
    # Labels never (or always) present are clipped to finite log-odds, not -inf / +inf.
    assert odds[1] == pytest.approx(np.log(1e-4 / (1 - 1e-4)), rel=1e-4)
    assert odds[2] == pytest.approx(-odds[1], rel=1e-4)
    # The sigmoid of the log-odds is the label's rate.
    assert 1 / (1 + np.exp(-odds[0])) == pytest.approx(0.75, rel=1e-5)


@pytest.mark.parametrize("backbone_name", sorted(backbones.BACKBONES))
@pytest.mark.parametrize("pooling", POOLINGS)
def test_logits_are_the_head_on_the_chosen_pooling(backbone_name, pooling):
    model = MultiLabelClassifier(tiny_backbone(backbone_name), NUM_LABELS, pooling)
    inputs = batch([4, 9, 6], 12)
    logits = keras.ops.convert_to_numpy(model(inputs, training=False))
    assert logits.shape == (3, NUM_LABELS)
    assert np.all(np.isfinite(logits))

    outputs = model.backbone(inputs, training=False)
    pooled = {
        "mean": lambda: masked_mean(outputs["sequence_output"], inputs["padding_mask"]),
        "max": lambda: masked_max(outputs["sequence_output"], inputs["padding_mask"]),
        "mean_max": lambda: keras.ops.concatenate(
            [
                masked_mean(outputs["sequence_output"], inputs["padding_mask"]),
                masked_max(outputs["sequence_output"], inputs["padding_mask"]),
            ],
            axis=-1,
        ),
        "pooled": lambda: outputs["pooled_output"],
    }[pooling]()
    expected = keras.ops.convert_to_numpy(model.output_layer(pooled))
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backbone_name", sorted(backbones.BACKBONES))
def test_poolings_give_different_logits(backbone_name):
    backbone = tiny_backbone(backbone_name)
    inputs = batch([5, 8], 10)
    model = MultiLabelClassifier(backbone, NUM_LABELS, "mean")
    model(inputs)
    results = {}
    for pooling in ("mean", "max", "pooled"):  # the widths one output layer takes
        model.pooling = pooling  # same weights, another pooling
        results[pooling] = keras.ops.convert_to_numpy(model(inputs, training=False))
    assert not np.allclose(results["mean"], results["max"])
    assert not np.allclose(results["mean"], results["pooled"])


@pytest.mark.parametrize("backbone_name", sorted(backbones.BACKBONES))
@pytest.mark.parametrize("pooling", POOLINGS)
def test_extra_padding_does_not_change_logits(backbone_name, pooling):
    model = MultiLabelClassifier(tiny_backbone(backbone_name), NUM_LABELS, pooling)
    short = batch([4, 7], 7)
    padded = batch([4, 7], 16)
    np.testing.assert_array_equal(short["token_ids"], padded["token_ids"][:, :7])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(short, training=False)),
        keras.ops.convert_to_numpy(model(padded, training=False)),
        rtol=1e-4,
        atol=1e-5,
    )


def test_initial_bias_is_the_output_bias():
    bias = np.array([-1.0, 0.5, 2.0], np.float32)
    model = MultiLabelClassifier(tiny_backbone("transformer"), 3, initial_bias=bias)
    model(batch([3], 3))
    np.testing.assert_allclose(model.output_layer.bias.numpy(), bias)


def test_loss_is_mean_sigmoid_cross_entropy():
    model = MultiLabelClassifier(tiny_backbone("textcnn"), 3, "mean", dropout=0.0)
    inputs = batch([4, 6], 6)
    labels = np.array([[1, 0, 1], [0, 0, 1]], np.float32)
    loss, extra = model.loss_and_metrics(dict(inputs, labels=labels), training=False)
    logits = keras.ops.convert_to_numpy(model(inputs, training=False)).astype(np.float64)
    p = 1 / (1 + np.exp(-logits))
    expected = -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    assert float(loss) == pytest.approx(expected, rel=1e-4)
    assert extra == {}


def test_unknown_pooling_raises():
    with pytest.raises(ValueError, match="cls") as error:
        MultiLabelClassifier(tiny_backbone("transformer"), 3, "cls")
    for pooling in POOLINGS:
        assert pooling in str(error.value)


def test_finetune_config_rejects_unknown_pooling():
    config = FinetuneConfig(
        train_file="t", valid_file="v", test_file="t", output_dir="o", pooling="attention"
    )
    with pytest.raises(InputError, match="--pooling=attention"):
        config.validate()
