"""Tests for bert_tf.freezing: which backbone weights `--freeze` keeps fixed, on every backbone,
and that the optimizer then holds no slots for them."""

import math

import pytest

import backbones
from backbones.base import model_inputs_example
from bert_tf import freezing
from bert_tf.classifier import MultiLabelClassifier
from bert_tf.errors import InputError
from bert_tf.optimization import create_optimizer


@pytest.mark.parametrize("freeze", ["bottom", "bottom:", "bottom:0", "bottom:x", "top:1", "all"])
def test_unknown_values_are_named(freeze):
    with pytest.raises(InputError, match=f"--freeze={freeze}: expected one of embeddings"):
        freezing.check_freeze(freeze)


def build(backbone_name, tiny_backbone_config_factory):
    backbone = backbones.build(backbone_name, tiny_backbone_config_factory(backbone_name))
    model = MultiLabelClassifier(backbone, 3)
    model(model_inputs_example())
    return model, backbone


def paths(weights):
    return {w.path for w in weights}


@pytest.mark.parametrize("freeze", ["", "embeddings", "bottom:1", "bottom:2", "all_but_head"])
def test_frozen_weights_are_the_named_layers_and_get_no_optimizer_slots(
    backbone_name, tiny_backbone_config_factory, freeze
):
    model, backbone = build(backbone_name, tiny_backbone_config_factory)
    all_paths = paths(model.weights)
    summary = freezing.freeze_backbone(model, backbone, freeze)

    frozen = all_paths - paths(model.trainable_weights)
    embeddings = paths(backbone.embeddings.weights)
    blocks = [paths(block.weights) for block in backbone.blocks]
    assert len(blocks) == 2  # the tiny config's two layers
    expected = {
        "": set(),
        "embeddings": embeddings,
        "bottom:1": embeddings | blocks[0],
        "bottom:2": embeddings | blocks[0] | blocks[1],
        "all_but_head": paths(backbone.weights),
    }[freeze]
    assert frozen == expected
    assert any("token_embedding" in path for path in frozen) == bool(freeze)
    assert paths(model.output_layer.weights) <= paths(model.trainable_weights)
    assert summary.frozen_weights == len(frozen)
    parameters = {w.path: math.prod(w.shape) for w in model.weights}
    assert summary.frozen_parameters == sum(parameters[p] for p in frozen)
    assert summary.trainable_parameters == sum(parameters.values()) - summary.frozen_parameters

    optimizer = create_optimizer(1e-3, 10, 1)
    optimizer.build(model.trainable_variables)
    slots = [v for v in optimizer.variables if v.path.endswith(("_momentum", "_velocity"))]
    assert len(slots) == 2 * len(model.trainable_variables)
    assert sum(math.prod(v.shape) for v in slots) == 2 * summary.trainable_parameters


def test_more_layers_than_the_backbone_has_is_an_error(backbone_name, tiny_backbone_config_factory):
    model, backbone = build(backbone_name, tiny_backbone_config_factory)
    with pytest.raises(InputError, match="--freeze=bottom:3: the backbone has 2 blocks"):
        freezing.freeze_backbone(model, backbone, "bottom:3")
    assert all(w.trainable for w in model.weights)
