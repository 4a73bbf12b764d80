"""Tests for the Transformer beyond the contract: the feed-forward activation and the LayerNorm
epsilon, which imported checkpoints set; pre-LayerNorm blocks; its attention against keras
`MultiHeadAttention`."""

import keras
import numpy as np
import pytest

import backbones
from backbones.transformer import SelfAttention, TransformerBlock, self_attention_mask
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


def zero_branches(block):
    """Zeroes the kernels and biases that end the block's two residual branches."""
    for layer in (block.attention.attention_output, block.output_dense):
        for weight in (layer.kernel, layer.bias):
            weight.assign(np.zeros(weight.shape, np.float32))


@pytest.mark.parametrize("normalize_first", [False, True])
def test_pre_layer_norm_keeps_an_identity_path_post_layer_norm_normalizes(normalize_first):
    """With both residual branches giving zeros, a pre-LayerNorm block passes its input
    through; a post-LayerNorm block returns it normalized."""
    keras.utils.set_random_seed(0)
    block = TransformerBlock(2, 16, 32, dropout=0.0, normalize_first=normalize_first)
    block.build((None, None, 16))
    zero_branches(block)
    x = np.random.default_rng(0).normal(3.0, 5.0, (2, 5, 16)).astype(np.float32)
    y = keras.ops.convert_to_numpy(block(x, self_attention_mask(np.ones((2, 5), np.int32))))
    if normalize_first:
        np.testing.assert_allclose(y, x, rtol=1e-6)
    else:
        np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-5)
        np.testing.assert_allclose(y.std(-1), 1.0, rtol=1e-3)
    assert block.get_config()["normalize_first"] is normalize_first


def test_a_pre_layer_norm_backbone_normalizes_its_output_and_rebuilds_from_its_config(
    tiny_backbone_config_factory, inputs_factory
):
    post = build(tiny_backbone_config_factory)
    pre = build(tiny_backbone_config_factory, normalize_first=True)
    assert pre.get_config()["normalize_first"] is True
    # The same weights as post-LayerNorm, and one more LayerNorm at the top.
    shapes = {w.path: w.shape for w in pre.weights}
    assert shapes.pop("final_norm/gamma") == shapes.pop("final_norm/beta") == (16,)
    assert shapes == {w.path: w.shape for w in post.weights}
    inputs = inputs_factory((9, 6))
    sequence = keras.ops.convert_to_numpy(pre(inputs)["sequence_output"])
    np.testing.assert_allclose(sequence.std(-1), 1.0, rtol=1e-2)

    # Weights large enough that the residual branches matter (at initialization they barely do).
    rng = np.random.default_rng(0)
    for weight in pre.weights:
        weight.assign(rng.normal(0.0, 0.3, weight.shape).astype(np.float32))
    sequence = keras.ops.convert_to_numpy(pre(inputs)["sequence_output"])
    rebuilt = backbones.build("transformer", pre.get_config())
    rebuilt.set_weights(pre.get_weights())
    again = keras.ops.convert_to_numpy(rebuilt(inputs)["sequence_output"])
    np.testing.assert_allclose(again, sequence, rtol=1e-5, atol=1e-5)
    by_path = {w.path: w for w in pre.weights}
    for weight in post.weights:
        weight.assign(by_path[weight.path])
    other = keras.ops.convert_to_numpy(post(inputs)["sequence_output"])
    assert np.abs(other - sequence).max() > 0.1  # the flag changes the computation


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
