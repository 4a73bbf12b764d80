"""Tests for bert_tf.weights_file: h5py weights restored strictly, by variable path."""

import os

import h5py
import keras
import numpy as np
import pytest

import backbones
from bert_tf import weights_file
from bert_tf.errors import InputError


def built(name, config, inputs_factory):
    backbone = backbones.build(name, config)
    backbone({k: v for k, v in inputs_factory((6,)).items()}, training=False)
    return backbone


def test_save_load_round_trip_is_exact(tmp_path, backbone_name, backbone_config, inputs_factory):
    original = built(backbone_name, backbone_config, inputs_factory)
    path = str(tmp_path / "w.h5")
    weights_file.save_weights(path, original.weights)
    assert not [f for f in os.listdir(tmp_path) if "tmp" in f]
    copy = built(backbone_name, backbone_config, inputs_factory)
    count, parameters = weights_file.load_weights(path, copy.weights)
    assert (count, parameters) == (len(original.weights), original.count_params())
    for a, b in zip(copy.weights, original.weights):
        assert np.array_equal(a.numpy(), b.numpy()), a.path
    arrays = weights_file.read_weights(path)
    assert sorted(arrays) == sorted(v.path for v in original.weights)


def test_missing_weights_are_named(
    tmp_path, backbone_name, tiny_backbone_config_factory, inputs_factory
):
    path = str(tmp_path / "w.h5")
    small = built(
        backbone_name, tiny_backbone_config_factory(backbone_name, num_layers=1), inputs_factory
    )
    weights_file.save_weights(path, small.weights)
    large = built(
        backbone_name, tiny_backbone_config_factory(backbone_name, num_layers=2), inputs_factory
    )
    missing = sorted(set(v.path for v in large.weights) - set(v.path for v in small.weights))
    assert missing
    before = [v.numpy().copy() for v in large.weights]
    with pytest.raises(InputError, match="missing from the file") as error:
        weights_file.load_weights(path, large.weights)
    assert all(name in str(error.value) for name in missing)
    assert path in str(error.value)
    # Nothing was assigned: a failed load leaves the model as it was.
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, large.weights))
    # The other way round, the extra weights in the file are named.
    path2 = str(tmp_path / "w2.h5")
    weights_file.save_weights(path2, large.weights)
    with pytest.raises(InputError, match="in the file but not in the model") as error:
        weights_file.load_weights(path2, small.weights)
    assert missing[0] in str(error.value)


def test_shape_mismatch_is_named(
    tmp_path, backbone_name, tiny_backbone_config_factory, inputs_factory
):
    path = str(tmp_path / "w.h5")
    config = tiny_backbone_config_factory(backbone_name)
    weights_file.save_weights(path, built(backbone_name, config, inputs_factory).weights)
    other = built(backbone_name, dict(config, vocabulary_size=40), inputs_factory)
    with pytest.raises(InputError, match="shape mismatch") as error:
        weights_file.load_weights(path, other.weights)
    message = str(error.value)
    assert "embeddings/token_embedding/embeddings (file (50, 16), model (40, 16))" in message
    assert "missing" not in message


def test_duplicate_variable_paths_are_refused(tmp_path):
    a = keras.Variable(np.zeros(2), name="kernel")
    b = keras.Variable(np.ones(2), name="kernel")
    with pytest.raises(ValueError, match="not unique"):
        weights_file.save_weights(str(tmp_path / "w.h5"), [a, b])
    assert not os.listdir(tmp_path)


def test_unreadable_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        weights_file.read_weights(str(tmp_path / "none.h5"))
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(InputError, match="text.h5.*HDF5"):
        weights_file.read_weights(str(text))
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("layer/kernel", data=np.zeros(3))
    with pytest.raises(InputError, match="not a bert_tf weights file"):
        weights_file.read_weights(str(other))
