"""Tests for the Transformer's architecture options beyond the contract: the feed-forward
activation and the LayerNorm epsilon, which imported checkpoints set."""

import keras
import numpy as np
import pytest

import backbones
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
