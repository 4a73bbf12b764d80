"""Tests for bert_tf.bundle: save, check, rebuild from the files alone, and refuse bad bundles."""

import json
import os

import h5py
import keras
import numpy as np
import pytest

import backbones
from bert_tf import bundle, weights_file
from bert_tf.errors import InputError
from bert_tf.pretraining_model import PretrainingModel
from pretrain_tasks import build_tasks

MAX_SEQ_LENGTH = 16


def pretraining_batch(inputs_factory, vocabulary_size):
    batch = inputs_factory((12, 9), vocabulary_size=vocabulary_size)
    batch["masked_lm_positions"] = np.array([[1, 4, 0], [2, 0, 0]], np.int32)
    batch["masked_lm_ids"] = np.array([[7, 8, 0], [9, 0, 0]], np.int32)
    batch["masked_lm_weights"] = np.array([[1, 1, 0], [1, 0, 0]], np.float32)
    batch["next_sentence_labels"] = np.array([0, 1], np.int32)
    return batch


def make_model(name, config, vocabulary_size, batch):
    tasks = build_tasks(["masked_lm", "next_sentence"], vocabulary_size, MAX_SEQ_LENGTH)
    model = PretrainingModel(backbones.build(name, config), tasks)
    model(batch)
    return model, tasks


def randomize(variables, seed):
    """Gives every variable random values, so zero-initialized biases are checked as well."""
    rng = np.random.default_rng(seed)
    for variable in variables:
        variable.assign(rng.normal(size=variable.shape).astype(variable.dtype))


@pytest.fixture(scope="module")
def pretrained(backbone_name, backbone_config, tiny_tokenizer, inputs_factory):
    """A tiny pretraining model (both tasks) with random values in every variable."""
    batch = pretraining_batch(inputs_factory, tiny_tokenizer.vocabulary_size)
    model, tasks = make_model(backbone_name, backbone_config, tiny_tokenizer.vocabulary_size, batch)
    randomize(model.weights, seed=0)
    return model, tasks, batch


@pytest.fixture
def saved(tmp_path, backbone_name, pretrained, tiny_tokenizer):
    """The pretrained model written as a bundle into a fresh directory."""
    model, tasks, batch = pretrained
    directory = str(tmp_path / "bundle")
    bundle.save_bundle(
        directory,
        backbone_name=backbone_name,
        backbone=model.backbone,
        tokenizer=tiny_tokenizer,
        max_seq_length=MAX_SEQ_LENGTH,
        tasks=tasks,
        training_summary={"steps": 3},
        head_variables=model.head_variables(),
    )
    return directory, model, batch


def outputs_of(backbone, batch):
    inputs = {k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    return {k: keras.ops.convert_to_numpy(v) for k, v in backbone(inputs, training=False).items()}


def test_bundle_files_and_config(saved, backbone_name, backbone_config):
    directory, model, _ = saved
    assert sorted(os.listdir(directory)) == sorted(
        [
            bundle.CONFIG_FILE,
            bundle.VOCABULARY_FILE,
            bundle.BACKBONE_WEIGHTS_FILE,
            bundle.HEADS_WEIGHTS_FILE,
        ]
    )  # no temporary file left behind
    config = bundle.read_bundle_config(directory)
    assert config["backbone"] == {"name": backbone_name, "config": model.backbone.get_config()}
    assert config["max_seq_length"] == MAX_SEQ_LENGTH
    assert config["tasks"] == [
        {
            "name": "masked_lm",
            "loss_weight": 1.0,
            "settings": {
                "mask_rate": 0.15,
                "max_predictions_per_seq": 20,
                "whole_word_masking": False,
            },
        },
        {"name": "next_sentence", "loss_weight": 1.0, "settings": {}},
    ]
    assert config["training_summary"] == {"steps": 3}
    assert config["tokenizer"]["vocabulary_size"] == 50


def test_config_and_vocab_alone_rebuild_tokenizer_and_backbone(saved, tiny_tokenizer):
    directory, model, batch = saved
    config = bundle.read_bundle_config(directory)
    tokenizer = bundle.load_tokenizer(directory, config)
    assert tokenizer.vocabulary == tiny_tokenizer.vocabulary
    assert tokenizer.config == tiny_tokenizer.config
    backbone = backbones.build(config["backbone"]["name"], config["backbone"]["config"])
    outputs_of(backbone, batch)
    assert not np.array_equal(backbone.weights[0].numpy(), model.backbone.weights[0].numpy())
    count, parameters = weights_file.load_weights(
        os.path.join(directory, bundle.BACKBONE_WEIGHTS_FILE), backbone.weights
    )
    assert count == len(model.backbone.weights)
    assert parameters == model.backbone.count_params()
    for restored, original in zip(backbone.weights, model.backbone.weights):
        assert restored.path == original.path
        assert np.array_equal(restored.numpy(), original.numpy()), restored.path
    expected, got = outputs_of(model.backbone, batch), outputs_of(backbone, batch)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])


def test_heads_weights_restore_exactly(saved, backbone_name, backbone_config, tiny_tokenizer):
    directory, model, batch = saved
    fresh, _ = make_model(backbone_name, backbone_config, tiny_tokenizer.vocabulary_size, batch)
    heads = fresh.head_variables()
    assert [v.path for v in heads] == [v.path for v in model.head_variables()]
    assert heads, "the heads have variables of their own"
    weights_file.load_weights(os.path.join(directory, bundle.HEADS_WEIGHTS_FILE), heads)
    for restored, original in zip(heads, model.head_variables()):
        assert np.array_equal(restored.numpy(), original.numpy()), restored.path


def test_head_variables_exclude_the_tied_embedding(saved):
    _, model, _ = saved
    head_ids = {id(v) for v in model.head_variables()}
    assert id(model.backbone.token_embedding.embeddings) not in head_ids
    assert not head_ids & {id(v) for v in model.backbone.weights}
    assert {id(v) for v in model.weights} == head_ids | {id(v) for v in model.backbone.weights}


def test_backbone_weights_file_is_plain_hdf5_with_the_token_embedding(saved):
    directory, model, _ = saved
    embedding = model.backbone.token_embedding.embeddings
    with h5py.File(os.path.join(directory, bundle.BACKBONE_WEIGHTS_FILE), "r") as f:
        stored = f[weights_file.WEIGHTS_GROUP][embedding.path][()]
    assert stored.shape == (50, model.backbone.get_config()["hidden_dim"])
    assert np.array_equal(stored, embedding.numpy())


def test_tampered_weights_file_is_detected(saved):
    directory, _, _ = saved
    path = os.path.join(directory, bundle.BACKBONE_WEIGHTS_FILE)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(InputError, match="partly written") as error:
        bundle.read_bundle_config(directory)
    assert bundle.BACKBONE_WEIGHTS_FILE in str(error.value)


def test_truncated_heads_file_is_detected(saved):
    directory, _, _ = saved
    path = os.path.join(directory, bundle.HEADS_WEIGHTS_FILE)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(InputError, match="partly written"):
        bundle.read_bundle_config(directory)


def test_missing_config_is_an_incomplete_bundle(saved):
    directory, _, _ = saved
    os.remove(os.path.join(directory, bundle.CONFIG_FILE))
    with pytest.raises(InputError, match="no config.json") as error:
        bundle.read_bundle_config(directory)
    assert directory in str(error.value)


def test_missing_directory_and_missing_file(saved, tmp_path):
    with pytest.raises(InputError, match="no such directory"):
        bundle.read_bundle_config(str(tmp_path / "nowhere"))
    directory, _, _ = saved
    os.remove(os.path.join(directory, bundle.HEADS_WEIGHTS_FILE))
    with pytest.raises(InputError, match="heads.weights.h5 is missing"):
        bundle.read_bundle_config(directory)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c.update(format_version=99), "format 99"),
        (lambda c: c.pop("backbone"), "'backbone'"),
    ],
    ids=["format", "no-backbone"],
)
def test_config_of_another_format_is_rejected(saved, change, message):
    directory, _, _ = saved
    path = os.path.join(directory, bundle.CONFIG_FILE)
    config = json.load(open(path))
    change(config)
    json.dump(config, open(path, "w"))
    with pytest.raises(InputError, match=message):
        bundle.read_bundle_config(directory)


def test_config_that_is_not_json(saved):
    directory, _, _ = saved
    open(os.path.join(directory, bundle.CONFIG_FILE), "w").write('{"backbone": ')
    with pytest.raises(InputError, match="not valid JSON"):
        bundle.read_bundle_config(directory)


def test_vocabulary_size_mismatch(saved):
    directory, _, _ = saved
    config = bundle.read_bundle_config(directory)
    with open(os.path.join(directory, bundle.VOCABULARY_FILE), "a", encoding="utf-8") as f:
        f.write("extra\n")
    with pytest.raises(InputError, match="51 tokens but the config expects 50"):
        bundle.load_tokenizer(directory, config)


def test_backbone_vocabulary_size_mismatch(saved):
    directory, _, _ = saved
    config = bundle.read_bundle_config(directory)
    config["backbone"]["config"]["vocabulary_size"] = 60
    with pytest.raises(InputError, match="do not belong together"):
        bundle.load_tokenizer(directory, config)


def test_saving_again_replaces_the_bundle(saved, tiny_tokenizer):
    directory, model, _ = saved
    randomize(model.backbone.weights, seed=1)
    config = bundle.read_bundle_config(directory)
    bundle.save_bundle(
        directory,
        backbone_name=config["backbone"]["name"],
        backbone=model.backbone,
        tokenizer=tiny_tokenizer,
        max_seq_length=MAX_SEQ_LENGTH,
        tasks=model.tasks,
        training_summary={"steps": 6},
        head_variables=model.head_variables(),
    )
    assert bundle.read_bundle_config(directory)["training_summary"] == {"steps": 6}
    arrays = weights_file.read_weights(os.path.join(directory, bundle.BACKBONE_WEIGHTS_FILE))
    for variable in model.backbone.weights:
        assert np.array_equal(arrays[variable.path], variable.numpy())


def test_config_records_the_special_token_ids(saved):
    directory, _, _ = saved
    tokenizer = bundle.read_bundle_config(directory)["tokenizer"]
    assert tokenizer["special_token_ids"] == {
        "[PAD]": 0,
        "[UNK]": 1,
        "[CLS]": 2,
        "[SEP]": 3,
        "[MASK]": 4,
    }
    assert tokenizer["strip_accents"] is False


def test_a_bundle_written_before_special_ids_were_recorded_still_loads(saved, tiny_tokenizer):
    """Bundles of format 1 written earlier have no `special_token_ids`, `strip_accents` nor
    `cjk_split`: the ids are then found by name, accents kept and CJK text split per
    ideograph, as those bundles were trained."""
    directory, _, _ = saved
    path = os.path.join(directory, bundle.CONFIG_FILE)
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    for key in ("special_token_ids", "strip_accents", "cjk_split"):
        del config["tokenizer"][key]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    loaded = bundle.load_tokenizer(directory, bundle.read_bundle_config(directory))
    assert loaded.special_ids == tiny_tokenizer.special_ids
    assert loaded.config == tiny_tokenizer.config


def test_special_ids_that_contradict_the_vocabulary_are_refused(saved):
    directory, _, _ = saved
    config = bundle.read_bundle_config(directory)
    config["tokenizer"]["special_token_ids"]["[MASK]"] = 7
    with pytest.raises(InputError, match=r"vocab.txt: .*config says .*'\[MASK\]': 7"):
        bundle.load_tokenizer(directory, config)
