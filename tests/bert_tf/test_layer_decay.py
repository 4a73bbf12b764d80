"""Tests for layer-wise learning-rate decay (bert_tf.layer_decay, `ScaledAdamW`): which share of
the rate each backbone weight gets, and that the optimizer's steps really are scaled by it
(fine-tuning's use of them: tests/bert_tf/test_finetuning_variants.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import backbones
from backbones.base import model_inputs_example
from bert_tf import layer_decay
from bert_tf.classifier import MultiLabelClassifier
from bert_tf.errors import InputError
from bert_tf.optimization import ScaledAdamW, create_optimizer


def build(backbone_name, tiny_backbone_config_factory):
    backbone = backbones.build(backbone_name, tiny_backbone_config_factory(backbone_name))
    model = MultiLabelClassifier(backbone, 3)
    model(model_inputs_example())
    return model, backbone


def test_each_layer_gets_the_decay_to_the_power_of_its_distance_from_the_head(
    backbone_name, tiny_backbone_config_factory
):
    model, backbone = build(backbone_name, tiny_backbone_config_factory)
    multipliers = layer_decay.learning_rate_multipliers(backbone, 0.5)

    assert len(backbone.blocks) == 2  # the tiny config's two layers
    expected = {w.path: 0.125 for w in backbone.embeddings.weights}
    expected.update({w.path: 0.25 for w in backbone.blocks[0].weights})
    expected.update({w.path: 0.5 for w in backbone.blocks[1].weights})
    assert multipliers == expected
    assert any("token_embedding" in path for path in multipliers)
    assert not set(multipliers) & {w.path for w in model.output_layer.weights}
    assert layer_decay.learning_rate_multipliers(backbone, 1.0) == {}


@pytest.mark.parametrize("decay", [0.0, -0.5, 1.5])
def test_a_decay_outside_0_to_1_is_named(decay):
    with pytest.raises(InputError, match=f"--layer_decay={decay}: expected a number above 0"):
        layer_decay.check_layer_decay(decay)


def test_a_backbone_without_declared_layers_is_an_error():
    class Opaque:
        embeddings = None
        blocks = []

    with pytest.raises(InputError, match="does not declare its embeddings and blocks"):
        layer_decay.learning_rate_multipliers(Opaque(), 0.8)


@pytest.mark.parametrize("in_graph", [False, True])
def test_a_scaled_weight_moves_by_its_share_of_the_step(in_graph):
    """Adam's first step moves every weight by about the rate, whatever its gradient; the weight
    given 0.25 must move a quarter as far as its twin, the other two as far as each other."""
    weights = [keras.Variable(np.ones(3, np.float32), name=n) for n in ("first", "scaled", "twin")]
    optimizer = create_optimizer(
        0.1, 10, 0, weight_decay=0.0, learning_rate_multipliers={weights[1].path: 0.25}
    )
    assert isinstance(optimizer, ScaledAdamW)
    optimizer.build(weights)
    gradients = [tf.constant([1.0, -2.0, 3.0])] * 3

    def apply():
        optimizer.apply_gradients(zip(gradients, weights))

    (tf.function(apply) if in_graph else apply)()
    moved = [np.abs(1.0 - w.numpy()) for w in weights]
    assert moved[0] == pytest.approx(moved[2])
    assert moved[0].min() > 0.05
    np.testing.assert_allclose(moved[1], 0.25 * moved[0], rtol=1e-4)


def test_without_multipliers_the_optimizer_is_plain_adamw():
    assert type(create_optimizer(1e-3, 10, 1)).__name__ == "AdamW"
    assert type(create_optimizer(1e-3, 10, 1, learning_rate_multipliers={})).__name__ == "AdamW"
