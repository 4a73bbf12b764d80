"""Tests for importing keras-hub BERT presets: a tiny `BertBackbone` saved with `save_to_preset`
in the test, imported, and compared with keras-hub's own outputs and tokenizer."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from google_bert_release import google_vocabulary

import backbones
from bert_tf import bundle, weights_file
from bert_tf.checkpoint_import import ImportConfig, import_bundle
from bert_tf.errors import InputError
from bert_tf.pretraining_model import PretrainingModel
from pretrain_tasks import build_tasks

keras_hub = pytest.importorskip("keras_hub")

TEXTS = ["The café's menu: 12 crêpes, (naïve) Ünïcode!", "a b", "Hello   WORLD-wide web3"]


def tiny_preset(directory, lowercase=True, strip_accents=False):
    """A tiny BertBackbone with random weights (biases and LayerNorms too) and its tokenizer,
    saved as a preset; returns the backbone and the tokenizer."""
    vocabulary = google_vocabulary(cased=not lowercase)
    keras.utils.set_random_seed(7)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary),
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=24,
    )
    rng = np.random.default_rng(7)
    for variable in backbone.weights:
        variable.assign(0.3 * rng.standard_normal(variable.shape) + variable.numpy())
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=vocabulary, lowercase=lowercase, strip_accents=strip_accents
    )
    backbone.save_to_preset(str(directory))
    tokenizer.save_to_preset(str(directory))
    return backbone, tokenizer


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    directory = tmp_path_factory.mktemp("keras_hub") / "preset"
    backbone, tokenizer = tiny_preset(directory)
    output_dir = str(tmp_path_factory.mktemp("imported") / "bundle")
    summary = import_bundle(ImportConfig(source=str(directory), output_dir=output_dir))
    return backbone, tokenizer, output_dir, summary


def test_outputs_equal_keras_hubs_own(preset):
    source, source_tokenizer, output_dir, summary = preset
    config = bundle.read_bundle_config(output_dir)
    backbone = backbones.build("transformer", config["backbone"]["config"])
    weights_file.load_weights(
        os.path.join(output_dir, bundle.BACKBONE_WEIGHTS_FILE), backbone.weights
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        source_tokenizer, sequence_length=24
    )
    pairs = (tf.constant(["a b", TEXTS[2]]), tf.constant(["Ça", TEXTS[0]]))
    features = {k: tf.cast(v, tf.int32) for k, v in preprocessor(x=pairs).items()}
    assert (features["segment_ids"].numpy() == 1).any()  # pairs: both segments are used
    assert (features["padding_mask"].numpy() == 0).any()
    expected = source(features, training=False)
    got = backbone(features, training=False)
    real = features["padding_mask"].numpy() == 1
    np.testing.assert_allclose(
        got["sequence_output"].numpy()[real],
        keras.ops.convert_to_numpy(expected["sequence_output"])[real],
        atol=1e-5,
        rtol=0,
    )
    np.testing.assert_allclose(
        got["pooled_output"].numpy(),
        keras.ops.convert_to_numpy(expected["pooled_output"]),
        atol=1e-5,
        rtol=0,
    )
    assert summary["imported_from"]["weights"] == len(source.weights) == len(backbone.weights)
    assert summary["imported_from"]["heads"] == []


def test_the_bundles_tokenizer_gives_keras_hubs_ids(preset):
    _, source_tokenizer, output_dir, _ = preset
    config = bundle.read_bundle_config(output_dir)
    assert config["tokenizer"]["lower_case"] is True
    assert config["tokenizer"]["strip_accents"] is False  # the preset's, kept
    tokenizer = bundle.load_tokenizer(output_dir, config)
    assert tokenizer.special_ids.cls == 5 and tokenizer.special_ids.mask == 7
    ours = tokenizer.tokenize(tf.constant(TEXTS)).to_list()
    assert ours == source_tokenizer(tf.constant(TEXTS))


def test_strip_accents_follows_the_preset(tmp_path):
    _, source_tokenizer = tiny_preset(tmp_path / "preset", lowercase=False, strip_accents=True)
    import_bundle(ImportConfig(source=str(tmp_path / "preset"), output_dir=str(tmp_path / "out")))
    config = bundle.read_bundle_config(str(tmp_path / "out"))
    assert (config["tokenizer"]["lower_case"], config["tokenizer"]["strip_accents"]) == (
        False,
        True,
    )
    tokenizer = bundle.load_tokenizer(str(tmp_path / "out"), config)
    ours = tokenizer.tokenize(tf.constant(TEXTS)).to_list()
    assert ours == source_tokenizer(tf.constant(TEXTS))


def test_a_preset_of_another_family_is_refused(tmp_path):
    other = keras_hub.models.DistilBertBackbone(
        vocabulary_size=91, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16
    )
    other.save_to_preset(str(tmp_path / "distilbert"))
    keras_hub.models.DistilBertTokenizer(vocabulary=google_vocabulary()).save_to_preset(
        str(tmp_path / "distilbert")
    )
    with pytest.raises(
        InputError, match=r"config.json: a keras_hub>DistilBertBackbone preset, not"
    ):
        import_bundle(
            ImportConfig(source=str(tmp_path / "distilbert"), output_dir=str(tmp_path / "out"))
        )
    assert not (tmp_path / "out").exists()


def test_a_preset_missing_a_file_is_refused(tmp_path):
    tiny_preset(tmp_path / "preset")
    os.remove(tmp_path / "preset" / "assets" / "tokenizer" / "vocabulary.txt")
    with pytest.raises(InputError, match="no assets/tokenizer/vocabulary.txt"):
        import_bundle(
            ImportConfig(source=str(tmp_path / "preset"), output_dir=str(tmp_path / "out"))
        )
    assert not (tmp_path / "out").exists()


def test_a_directory_that_is_neither_is_refused(tmp_path):
    (tmp_path / "src").mkdir()
    json.dump({"hidden_size": 8}, open(tmp_path / "src" / "config.json", "w"))
    with pytest.raises(InputError, match="neither a Google BERT release .* nor a keras-hub"):
        import_bundle(ImportConfig(source=str(tmp_path / "src"), output_dir=str(tmp_path / "o")))


def test_a_masked_lm_task_preset_brings_its_head(tmp_path):
    """keras-hub's `BertMaskedLM` head and this project's compute the same logits, but for the
    LayerNorm epsilon (keras-hub's 1e-5, here 1e-12)."""
    backbone, tokenizer = tiny_preset(tmp_path / "backbone")
    masked_lm = keras_hub.models.BertMaskedLM(
        backbone, keras_hub.models.BertMaskedLMPreprocessor(tokenizer, sequence_length=24)
    )
    rng = np.random.default_rng(3)
    for variable in masked_lm.masked_lm_head.weights:
        variable.assign(0.3 * rng.standard_normal(variable.shape) + variable.numpy())
    masked_lm.save_to_preset(str(tmp_path / "task"))
    output_dir = str(tmp_path / "out")
    summary = import_bundle(ImportConfig(source=str(tmp_path / "task"), output_dir=output_dir))
    assert summary["imported_from"]["heads"] == ["masked_lm"]
    assert summary["imported_from"]["weights"] == len(backbone.weights) + 5

    config = bundle.read_bundle_config(output_dir)
    ours = PretrainingModel(
        backbones.build("transformer", config["backbone"]["config"]),
        build_tasks(["masked_lm"], len(tokenizer.get_vocabulary()), 24),
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=24)
    features = preprocessor(x=tf.constant(["the cat sat on a mat"]))
    batch = {k: tf.cast(v, tf.int32) for k, v in features.items()}
    batch["masked_lm_positions"] = tf.constant([[1, 3, 4]], tf.int32)
    ours(batch)
    weights_file.load_weights(
        os.path.join(output_dir, bundle.BACKBONE_WEIGHTS_FILE), ours.backbone.weights
    )
    weights_file.load_weights(
        os.path.join(output_dir, bundle.HEADS_WEIGHTS_FILE), ours.head_variables()
    )
    expected = masked_lm(
        dict(
            token_ids=batch["token_ids"],
            segment_ids=batch["segment_ids"],
            padding_mask=batch["padding_mask"],
            mask_positions=batch["masked_lm_positions"],
        )
    )
    np.testing.assert_allclose(
        ours(batch)["masked_lm"].numpy(), keras.ops.convert_to_numpy(expected), atol=1e-3
    )
