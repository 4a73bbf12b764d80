"""Tests for importing Google BERT releases: a tiny TF1 checkpoint with Google's names, written
in the test, imported, and checked against BERT's forward pass in numpy from its raw arrays."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from google_bert_release import reference_forward, tiny_release, write_release

import backbones
from bert_tf import bundle, weights_file
from bert_tf.checkpoint_import import ImportConfig, import_bundle
from bert_tf.errors import InputError
from bert_tf.tokenization import SpecialTokenIds


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A tiny uncased release with both heads, and its config, vocabulary and raw arrays."""
    directory = tmp_path_factory.mktemp("google") / "uncased_L-2_H-16_A-2"
    config, vocabulary, arrays = tiny_release(directory)
    return str(directory), config, vocabulary, arrays


@pytest.fixture(scope="module")
def imported(release, tmp_path_factory):
    """The release imported as a bundle, and the import's summary."""
    output_dir = str(tmp_path_factory.mktemp("imported") / "bundle")
    summary = import_bundle(ImportConfig(source=release[0], output_dir=output_dir))
    return output_dir, summary


def load_backbone(directory):
    config = bundle.read_bundle_config(directory)
    backbone = backbones.build(config["backbone"]["name"], config["backbone"]["config"])
    weights_file.load_weights(
        os.path.join(directory, bundle.BACKBONE_WEIGHTS_FILE), backbone.weights
    )
    return backbone, config


def inputs(vocabulary_size, lengths=(11, 7, 16), length=16, seed=0):
    """Random token ids framed by Google's [CLS] 5 and [SEP] 6, two segments, padding."""
    rng = np.random.default_rng(seed)
    token_ids = np.zeros((len(lengths), length), np.int32)
    segment_ids = np.zeros_like(token_ids)
    padding_mask = np.zeros_like(token_ids)
    for row, n in enumerate(lengths):
        token_ids[row, :n] = rng.integers(8, vocabulary_size, n)
        token_ids[row, [0, n - 1]] = [5, 6]
        segment_ids[row, n // 2 : n] = 1
        padding_mask[row, :n] = 1
    return token_ids, segment_ids, padding_mask


def test_outputs_equal_berts_forward_pass_from_the_raw_arrays(release, imported):
    _, config, vocabulary, arrays = release
    backbone, _ = load_backbone(imported[0])
    token_ids, segment_ids, padding_mask = inputs(len(vocabulary))
    outputs = backbone(
        {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask},
        training=False,
    )
    sequence, pooled = reference_forward(arrays, config, token_ids, segment_ids, padding_mask)
    real = padding_mask == 1  # Google's padded positions attend as well; nobody reads them
    got = keras.ops.convert_to_numpy(outputs["sequence_output"])
    np.testing.assert_allclose(got[real], sequence[real], atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(outputs["pooled_output"]), pooled, atol=1e-5, rtol=0
    )
    assert np.abs(sequence[real]).max() > 0.5  # outputs of size, not a trivial match


def test_every_variable_is_imported_heads_included(release, imported):
    directory, summary = imported
    _, config, _, arrays = release
    layers = config["num_hidden_layers"]
    backbone_variables = [name for name in arrays if name.startswith("bert/")]
    assert len(backbone_variables) == 5 + 16 * layers + 2
    imported_from = summary["imported_from"]
    assert imported_from["backbone_weights"] == len(backbone_variables)
    assert imported_from["weights"] == len(arrays)  # the 7 head variables too
    assert imported_from["parameters"] == sum(a.size for a in arrays.values())
    assert imported_from["heads"] == ["masked_lm", "next_sentence"]
    assert any("ignored 3 training-state variables" in note for note in imported_from["notes"])
    saved = bundle.read_bundle_config(directory)
    assert [task["name"] for task in saved["tasks"]] == ["masked_lm", "next_sentence"]
    heads = weights_file.read_weights(os.path.join(directory, bundle.HEADS_WEIGHTS_FILE))
    np.testing.assert_array_equal(
        heads["pretraining_model/next_sentence/dense/kernel"],
        arrays["cls/seq_relationship/output_weights"].T,
    )
    np.testing.assert_array_equal(
        heads["pretraining_model/masked_lm/output_bias"], arrays["cls/predictions/output_bias"]
    )


def test_architecture_follows_the_config(release, imported):
    _, config, _, _ = release
    saved = bundle.read_bundle_config(imported[0])
    assert saved["backbone"] == {
        "name": "transformer",
        "config": {
            "vocabulary_size": config["vocab_size"],
            "num_layers": 2,
            "num_heads": 2,
            "hidden_dim": 16,
            "intermediate_dim": 32,
            "dropout": 0.1,
            "max_sequence_length": 32,
            "num_segments": 2,
            "intermediate_activation": "gelu_approximate",
            "layer_norm_epsilon": 1e-12,
            "normalize_first": False,  # BERT's post-LayerNorm
        },
    }
    assert saved["max_seq_length"] == 32


def test_uncased_tokenizer_strips_accents_as_googles_does(imported):
    directory, summary = imported
    saved = bundle.read_bundle_config(directory)
    assert saved["tokenizer"]["lower_case"] is True
    assert saved["tokenizer"]["strip_accents"] is True
    assert saved["tokenizer"]["special_token_ids"] == {
        "[PAD]": 0,
        "[UNK]": 4,
        "[CLS]": 5,
        "[SEP]": 6,
        "[MASK]": 7,
    }
    tokenizer = bundle.load_tokenizer(directory, saved)
    assert tokenizer.special_ids == SpecialTokenIds(pad=0, unk=4, cls=5, sep=6, mask=7)
    ids = tokenizer.tokenize(tf.constant(["Café!"])).to_list()[0]
    assert [tokenizer.vocabulary[i] for i in ids] == ["c", "##a", "##f", "##e", "[UNK]"]  # no "!"
    assert any(
        "uncased: lower-cases and strips accents" in n for n in summary["imported_from"]["notes"]
    )


def test_a_cased_release_keeps_case_and_accents(tmp_path):
    tiny_release(tmp_path / "cased", cased=True, heads=False)
    import_bundle(ImportConfig(source=str(tmp_path / "cased"), output_dir=str(tmp_path / "out")))
    saved = bundle.read_bundle_config(str(tmp_path / "out"))
    assert saved["tokenizer"]["lower_case"] is False
    assert saved["tokenizer"]["strip_accents"] is False
    assert saved["tasks"] == []  # no cls/ variables: no heads
    tokenizer = bundle.load_tokenizer(str(tmp_path / "out"), saved)
    ids = tokenizer.tokenize(tf.constant(["Ab"])).to_list()[0]
    assert [tokenizer.vocabulary[i] for i in ids] == ["A", "##b"]


def break_release(directory, how):
    """Damages a copy of a release the way `how` says."""
    config_path = os.path.join(directory, "bert_config.json")
    if how.startswith("no "):
        for name in os.listdir(directory):
            if name.startswith(how[3:]):
                os.remove(os.path.join(directory, name))
    elif how == "swish":
        config = json.load(open(config_path))
        json.dump(dict(config, hidden_act="swish"), open(config_path, "w"))
    elif how == "short vocabulary":
        with open(os.path.join(directory, "vocab.txt"), "a", encoding="utf-8") as f:
            f.write("extra\n")


@pytest.mark.parametrize(
    "how, message",
    [
        ("no bert_config.json", r"no bert_config.json \(expected a Google BERT release"),
        ("no vocab.txt", "no vocab.txt"),
        ("no bert_model.ckpt.index", "no bert_model.ckpt.index"),
        ("no bert_model.ckpt.data", "bert_model.ckpt.data-00000-of-00001 is missing"),
        ("swish", r"bert_config.json: hidden_act='swish' is not supported; expected one of"),
        ("short vocabulary", r"vocab.txt: 92 tokens, but .*word_embeddings has 91 rows"),
    ],
)
def test_bad_releases_are_refused_and_write_no_bundle(tmp_path, how, message):
    tiny_release(tmp_path / "release", heads=False)
    break_release(str(tmp_path / "release"), how)
    output_dir = tmp_path / "out"
    source = str(tmp_path / "release")
    config = ImportConfig(source=source, output_dir=str(output_dir), format="google")
    with pytest.raises(InputError, match=message):
        import_bundle(config)
    assert not output_dir.exists()
    assert not [name for name in os.listdir(tmp_path) if name.startswith("out")]


def test_unmapped_and_misshapen_variables_are_named(tmp_path):
    config, vocabulary, arrays = tiny_release(tmp_path / "release", heads=False)
    extra = dict(arrays, **{"bert/encoder/layer_2/output/dense/bias": np.zeros(16, np.float32)})
    write_release(str(tmp_path / "extra"), config, vocabulary, extra)
    with pytest.raises(InputError, match="cannot place: bert/encoder/layer_2/output/dense/bias"):
        import_bundle(ImportConfig(source=str(tmp_path / "extra"), output_dir=str(tmp_path / "a")))
    bad = dict(arrays, **{"bert/encoder/layer_1/intermediate/dense/kernel": np.zeros((16, 8))})
    write_release(str(tmp_path / "bad"), config, vocabulary, bad)
    with pytest.raises(
        InputError,
        match=r"layer_1/intermediate/dense/kernel has shape \(16, 8\); .* expects \(16, 32\)",
    ):
        import_bundle(ImportConfig(source=str(tmp_path / "bad"), output_dir=str(tmp_path / "b")))
    del arrays["bert/pooler/dense/bias"]
    write_release(str(tmp_path / "missing"), config, vocabulary, arrays)
    with pytest.raises(InputError, match="no bert/pooler/dense/bias"):
        import_bundle(
            ImportConfig(source=str(tmp_path / "missing"), output_dir=str(tmp_path / "c"))
        )
    assert sorted(os.listdir(tmp_path)) == ["bad", "extra", "missing", "release"]


def test_an_existing_bundle_is_never_overwritten(release, imported):
    with pytest.raises(InputError, match="exists and is not an empty directory"):
        import_bundle(ImportConfig(source=release[0], output_dir=imported[0]))
