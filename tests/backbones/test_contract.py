"""The backbone contract (DESIGN.md), checked for every backbone in `backbones.BACKBONES`.

Fixtures `backbone_name`, `backbone_config` and `backbone` (tests/conftest.py) are parametrized
over the registry, so a newly registered backbone is tested here without any new test code.
"""

import inspect
import json

import keras
import numpy as np
import pytest

import backbones
from bert_tf.classifier import POOLINGS
from bert_tf.errors import InputError

OUTPUT_KEYS = {"sequence_output", "pooled_output"}


def run(model, inputs):
    outputs = model(inputs, training=False)
    return {key: keras.ops.convert_to_numpy(value) for key, value in outputs.items()}


@pytest.mark.parametrize("lengths", [(6, 4), (16, 16, 9)], ids=["S6", "S16"])
def test_output_keys_and_shapes(backbone, backbone_config, inputs_factory, lengths):
    outputs = run(backbone, inputs_factory(lengths))
    hidden = backbone_config["hidden_dim"]
    assert set(outputs) == OUTPUT_KEYS
    assert outputs["sequence_output"].shape == (len(lengths), max(lengths), hidden)
    assert outputs["pooled_output"].shape == (len(lengths), hidden)
    assert all(np.all(np.isfinite(v)) for v in outputs.values())


def test_token_embedding_is_a_keras_embedding(backbone, backbone_config):
    assert isinstance(backbone.token_embedding, keras.layers.Embedding)
    assert backbone.token_embedding.input_dim == backbone_config["vocabulary_size"]
    # It is the backbone's own layer (its matrix is among the backbone's weights).
    assert any(w is backbone.token_embedding.embeddings for w in backbone.weights)


def test_embeddings_and_blocks_are_the_stack_bottom_up(backbone, backbone_config):
    """What fine-tuning's --freeze keeps fixed: `embeddings` (holding the token embedding),
    then one block per layer, each with weights of its own."""
    groups = [backbone.embeddings.weights] + [block.weights for block in backbone.blocks]
    assert len(backbone.blocks) == backbone_config["num_layers"]
    assert any(w is backbone.token_embedding.embeddings for w in groups[0])
    paths = [w.path for group in groups for w in group]
    assert all(groups) and len(paths) == len(set(paths))
    assert set(paths) <= {w.path for w in backbone.weights}


def test_config_is_the_constructor_kwargs(backbone, backbone_config):
    config = backbone.get_config()
    assert {key: config[key] for key in backbone_config} == backbone_config
    accepted = set(inspect.signature(type(backbone).__init__).parameters) - {"self", "kwargs"}
    assert set(config) <= accepted


def test_json_config_round_trip_gives_same_outputs(backbone_name, backbone, inputs_factory):
    config = json.loads(json.dumps(backbone.get_config()))
    rebuilt = backbones.get(backbone_name).from_config(config)
    assert rebuilt.get_config() == backbone.get_config()
    assert [w.path for w in rebuilt.weights] == [w.path for w in backbone.weights]
    inputs = inputs_factory((9, 5))
    before = run(rebuilt, inputs)
    rebuilt.set_weights(backbone.get_weights())
    after, expected = run(rebuilt, inputs), run(backbone, inputs)
    assert not np.allclose(before["sequence_output"], expected["sequence_output"])  # fresh init
    for key in OUTPUT_KEYS:
        np.testing.assert_allclose(after[key], expected[key], rtol=1e-5, atol=1e-5)


def test_padding_does_not_change_real_positions(backbone, inputs_factory):
    lengths = (7, 11)
    short = inputs_factory(lengths)
    padded = inputs_factory(lengths, sequence_length=20)
    assert np.array_equal(padded["token_ids"][:, :11], short["token_ids"])
    # Whatever sits in padding positions must not matter either.
    padded["token_ids"][padded["padding_mask"] == 0] = 9
    out_short, out_padded = run(backbone, short), run(backbone, padded)
    for row, length in enumerate(lengths):
        np.testing.assert_allclose(
            out_padded["sequence_output"][row, :length],
            out_short["sequence_output"][row, :length],
            rtol=1e-4,
            atol=1e-5,
        )
    np.testing.assert_allclose(
        out_padded["pooled_output"], out_short["pooled_output"], rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("position", [1, 5, 10])
def test_changing_a_token_changes_the_output_at_its_position(backbone, inputs_factory, position):
    inputs = inputs_factory((12, 12))
    changed = {key: value.copy() for key, value in inputs.items()}
    changed["token_ids"][0, position] = 5 if inputs["token_ids"][0, position] != 5 else 6
    before, after = run(backbone, inputs), run(backbone, changed)
    difference = np.abs(after["sequence_output"] - before["sequence_output"]).max(axis=-1)
    assert difference[0, position] > 1e-3
    np.testing.assert_allclose(difference[1], 0.0, atol=1e-6)  # other examples untouched


def test_segment_ids_matter(backbone, inputs_factory):
    inputs = inputs_factory((10,))
    flipped = dict(inputs, segment_ids=1 - inputs["segment_ids"])
    before, after = run(backbone, inputs), run(backbone, flipped)
    assert not np.allclose(before["sequence_output"], after["sequence_output"], atol=1e-4)


def test_textcnn_is_local(tiny_backbone_config_factory, inputs_factory):
    if "textcnn" not in backbones.BACKBONES:
        pytest.skip("no textcnn backbone registered")
    config = tiny_backbone_config_factory("textcnn", num_layers=2, kernel_sizes=[3, 5])
    backbone = backbones.build("textcnn", config)
    radius = config["num_layers"] * (max(config["kernel_sizes"]) // 2)  # 4
    inputs = inputs_factory((16,))
    position, far = 2, 2 + radius + 1
    changed = {key: value.copy() for key, value in inputs.items()}
    changed["token_ids"][0, far] = 5 if inputs["token_ids"][0, far] != 5 else 6
    before, after = run(backbone, inputs), run(backbone, changed)
    difference = np.abs(after["sequence_output"] - before["sequence_output"]).max(axis=-1)[0]
    # Beyond the receptive field nothing changes; within it, the change is felt.
    np.testing.assert_allclose(difference[: position + 1], 0.0, atol=1e-6)
    assert difference[far - radius] > 1e-4
    assert difference[far] > 1e-3


def test_backbone_config_applies_overrides(backbone_name):
    cls = backbones.get(backbone_name)
    config = backbones.backbone_config(backbone_name, 77, "mini", hidden_dim=24, num_layers=None)
    assert config["vocabulary_size"] == 77
    assert config["hidden_dim"] == 24
    assert config["num_layers"] == cls.PRESETS["mini"]["num_layers"]  # None: not overridden


def test_backbone_config_rejects_unknown_size_and_setting(backbone_name):
    with pytest.raises(InputError, match="huge"):
        backbones.backbone_config(backbone_name, 50, "huge")
    with pytest.raises(InputError, match="no setting 'num_experts'"):
        backbones.backbone_config(backbone_name, 50, "tiny", num_experts=4)


def test_unknown_backbone_lists_the_known_ones():
    with pytest.raises(InputError, match="'rnn'") as error:
        backbones.get("rnn")
    for name in backbones.BACKBONES:
        assert name in str(error.value)
    with pytest.raises(InputError, match="rnn"):
        backbones.backbone_config("rnn", 50, "tiny")


def test_build_without_a_required_setting_is_an_input_error(backbone_name, backbone_config):
    config = {k: v for k, v in backbone_config.items() if k != "vocabulary_size"}
    with pytest.raises(InputError, match=backbone_name):
        backbones.build(backbone_name, config)


def test_build_with_an_unknown_setting_is_an_input_error(backbone_name, backbone_config):
    with pytest.raises(InputError, match="hiden_dim"):
        backbones.build(backbone_name, dict(backbone_config, hiden_dim=8))


def test_presets_exist_for_every_size(backbone_name):
    cls = backbones.get(backbone_name)
    assert set(cls.PRESETS) >= {"tiny", "mini", "small", "base"}
    accepted = set(inspect.signature(cls.__init__).parameters)
    widths = []
    for size in backbones.MODEL_SIZES:
        config = backbones.backbone_config(backbone_name, 100, size)
        assert set(config) <= accepted, size
        widths.append((config["hidden_dim"], config["num_layers"]))
    assert widths == sorted(widths)  # tiny <= mini <= small <= base
    assert widths[0] < widths[-1]


def test_default_pooling_is_one_the_classifier_offers(backbone_name):
    assert backbones.get(backbone_name).DEFAULT_POOLING in POOLINGS


def test_default_learning_rates_are_usable_rates(backbone_name):
    backbone_class = backbones.get(backbone_name)
    assert 0 < backbone_class.DEFAULT_FINETUNE_LEARNING_RATE < 1
    assert 0 < backbone_class.DEFAULT_PRETRAIN_LEARNING_RATE < 1
