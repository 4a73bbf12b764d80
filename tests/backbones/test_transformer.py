"""Tests for the Transformer beyond the contract: the feed-forward activation and the LayerNorm
epsilon, which imported checkpoints set; its attention against keras `MultiHeadAttention`."""

import keras
import numpy as np
import pytest

import backbones
from backbones.transformer import SelfAttention, self_attention_mask
from bert_tf.errors import InputError


def build(tiny_backbone_config_factory, **changes):
    keras.utils.set_random_seed(0)
    return backbones.build("transformer", tiny_backbone_config_factory("transformer", **changes))


def test_activation_and_epsilon_reach_every_layer(tiny_backbone_config_factory):
    backbone = build(
        tiny_backbone_config_factory, intermediate_activation="relu", layer_norm_epsilon=1e-6
    )
    norms = [
        layer
        for layer in backbone._flatten_layers()
        if isinstance(layer, keras.layers.LayerNormalization)
    ]
    assert len(norms) == 1 + 2 * 2  # embeddings, then two per block
    assert {norm.epsilon for norm in norms} == {1e-6}
    block = backbone.get_layer("transformer_layer_1")
    x = np.array([[-1.0, 2.0]], np.float32)
    assert np.array_equal(keras.ops.convert_to_numpy(block.intermediate.activation(x)), [[0, 2]])
    assert backbone.get_config()["intermediate_activation"] == "relu"


def test_gelu_and_its_tanh_approximation_differ(tiny_backbone_config_factory, inputs_factory):
    inputs = inputs_factory((9, 6))
    exact = build(tiny_backbone_config_factory)
    approximate = build(tiny_backbone_config_factory, intermediate_activation="gelu_approximate")
    approximate.set_weights(exact.get_weights())
    a = exact(inputs)["sequence_output"]
    b = approximate(inputs)["sequence_output"]
    difference = np.abs(keras.ops.convert_to_numpy(a) - keras.ops.convert_to_numpy(b)).max()
    assert 1e-7 < difference < 1e-2


def test_an_unknown_activation_is_refused(tiny_backbone_config_factory):
    with pytest.raises(InputError, match="intermediate_activation='swish': expected one of"):
        build(tiny_backbone_config_factory, intermediate_activation="swish")


def attention_pair(num_heads=2, head_dim=8, hidden=16):
    """keras `MultiHeadAttention` and `SelfAttention` with the same settings, each built for
    width `hidden` from the same seed."""
    layers = []
    for make in (keras.layers.MultiHeadAttention, SelfAttention):
        keras.utils.set_random_seed(0)
        initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        layer = make(num_heads, head_dim, dropout=0.1, kernel_initializer=initializer, name="a")
        if make is SelfAttention:
            layer.build((None, None, hidden))
        else:
            layer.build((None, None, hidden), (None, None, hidden))
        layers.append(layer)
    return layers


def test_self_attention_has_multi_head_attentions_weights():
    """Same paths, shapes, order and, from one seed, values: weight files, checkpoints and the
    checkpoint importers address them as keras `MultiHeadAttention`'s."""
    keras_attention, ours = attention_pair()
    assert [(v.path, v.shape) for v in ours.weights] == [
        (v.path, v.shape) for v in keras_attention.weights
    ]
    assert ours.weights[0].path == "a/query/kernel"
    for theirs, mine in zip(keras_attention.weights, ours.weights):
        assert np.array_equal(theirs.numpy(), mine.numpy()), mine.path


def test_self_attention_computes_what_multi_head_attention_does():
    keras_attention, ours = attention_pair()
    rng = np.random.default_rng(0)
    for variable in keras_attention.weights:  # larger than the initial ones, biases nonzero
        variable.assign(rng.normal(0, 0.3, variable.shape).astype(np.float32))
    by_path = {v.path: v for v in keras_attention.weights}
    for variable in ours.weights:
        variable.assign(by_path[variable.path])
    x = rng.normal(size=(3, 7, 16)).astype(np.float32)
    padding_mask = (np.arange(7) < np.array([[7], [4], [2]])).astype(np.int32)  # padded keys
    mask = self_attention_mask(padding_mask)
    expected = keras_attention(x, x, attention_mask=mask, training=False)
    actual = ours(x, mask, training=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(actual), keras.ops.convert_to_numpy(expected), atol=1e-5
    )


def test_self_attention_config_round_trip():
    _, ours = attention_pair()
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(ours))
    assert isinstance(rebuilt, SelfAttention)
    assert rebuilt.get_config() == ours.get_config()
