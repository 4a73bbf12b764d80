"""Google's BERT release (google-research/bert, and its 24 miniature models) as a bundle.

A release directory holds `bert_config.json`, `vocab.txt` and a TF1 name-based checkpoint
`bert_model.ckpt.{index,data-*}` with variables such as
`bert/encoder/layer_0/attention/self/query/kernel` [H, H]. Every `bert/` variable maps onto the
Transformer backbone; the masked-LM (`cls/predictions/`) and next-sentence
(`cls/seq_relationship/`) heads are taken when present. Anything else, except the optimizer's
slots and `global_step`, is an error naming it, as is a shape that does not fit the config.

Semantics kept: Google's `gelu` is the tanh approximation (`modeling.gelu`), its LayerNorm
epsilon 1e-12 (`tf.contrib.layers.layer_norm`). Its tokenizer lower-cases and strips accents
when `do_lower_case` (uncased models) and does neither otherwise; the config does not say which,
so it is given, or inferred from the vocabulary (an uncased vocabulary has no upper-case letter).
"""

import glob
import json
import os
import re

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf.checkpoint_import.imported_checkpoint import ImportedCheckpoint, SourceWeight
from bert_tf.errors import InputError
from bert_tf.tokenization import Tokenizer, TokenizerConfig, read_vocabulary

CONFIG_FILE = "bert_config.json"
VOCABULARY_FILE = "vocab.txt"
CHECKPOINT_PREFIX = "bert_model.ckpt"
#: `hidden_act` values of Google's `modeling.get_activation`, as the Transformer's names.
ACTIVATIONS = {"gelu": "gelu_approximate", "relu": "relu", "tanh": "tanh"}
REQUIRED_CONFIG = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "max_position_embeddings",
    "type_vocab_size",
)
#: Read as well: dropouts, and `layer_norm_eps` (configs converted from other libraries);
#: `initializer_range` only matters for training from scratch.
OPTIONAL_CONFIG = (
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "layer_norm_eps",
    "initializer_range",
)
#: Variables that are training state, not model: the step counter and Adam's moments.
IGNORED_VARIABLE = re.compile(r"^global_step$|/adam_[mv]$")


def is_google_checkpoint(directory: str) -> bool:
    """Whether `directory` looks like a Google BERT release (it has `bert_config.json`)."""
    return os.path.isfile(os.path.join(directory, CONFIG_FILE))


def read_google_checkpoint(directory: str, lower_case: bool | None = None) -> ImportedCheckpoint:
    """Reads a Google BERT release directory.

    Args:
        directory: str. Holds `bert_config.json`, `vocab.txt`, `bert_model.ckpt.*`.
        lower_case: bool or None. Whether the model is uncased (its tokenizer lower-cased and
            stripped accents); None to infer it from the vocabulary.

    Raises:
        InputError: a missing or unreadable file, an unsupported config, a vocabulary that does
            not fit the embedding, or a checkpoint variable that is unmapped, missing or of
            another shape.
    """
    prefix = _checked_files(directory)
    config_path = os.path.join(directory, CONFIG_FILE)
    bert_config = _read_config(config_path)
    backbone_config, notes = _backbone_config(bert_config, config_path)
    vocabulary_path = os.path.join(directory, VOCABULARY_FILE)
    vocabulary = read_vocabulary(vocabulary_path)
    tokenizer, tokenizer_note = _tokenizer(vocabulary, vocabulary_path, lower_case)
    notes.append(tokenizer_note)
    arrays, ignored = _read_variables(prefix)
    if ignored:
        shown = ", ".join(ignored[:3]) + (", …" if len(ignored) > 3 else "")
        notes.append(f"ignored {len(ignored)} training-state variables ({shown})")
    embedding = arrays.get("bert/embeddings/word_embeddings")
    if embedding is not None and embedding.shape[0] != len(vocabulary):
        raise InputError(
            f"{vocabulary_path}: {len(vocabulary)} tokens, but the checkpoint's "
            f"bert/embeddings/word_embeddings has {embedding.shape[0]} rows; vocabulary and "
            "checkpoint do not belong together"
        )
    backbone_layout = _backbone_layout(bert_config)
    head_layouts = _head_layouts(bert_config)
    head_variables = set().union(*head_layouts.values())
    unmapped = sorted(set(arrays) - set(backbone_layout) - head_variables)
    if unmapped:
        raise InputError(
            f"{prefix}: variables this importer cannot place: {', '.join(unmapped[:10])}"
            + (f" and {len(unmapped) - 10} more" if len(unmapped) > 10 else "")
            + f" (for {CONFIG_FILE} {_sizes(bert_config)})"
        )
    backbone_weights = _convert(arrays, backbone_layout, prefix, bert_config)
    head_weights = {
        task: _convert(arrays, layout, prefix, bert_config)
        for task, layout in head_layouts.items()
        if set(layout) & set(arrays)
    }
    if "masked_lm" in head_weights:
        notes.append(
            "the masked-LM head's transform uses the exact GELU, Google's the tanh approximation "
            "(a difference below 1e-3 in its activations; continued pretraining adapts it)"
        )
    for note in notes:
        logging.info("%s: %s", directory, note)
    return ImportedCheckpoint(
        "google_bert", directory, backbone_config, tokenizer, backbone_weights, head_weights, notes
    )


def _checked_files(directory: str) -> str:
    """Checks that the release's files exist; returns the checkpoint's path prefix:
    `bert_model.ckpt` if there is one, else the one checkpoint in the directory.

    Raises:
        InputError: naming the first missing file.
    """
    if not os.path.isdir(directory):
        raise InputError(f"{directory}: no such directory (expected a Google BERT release)")
    for name in (CONFIG_FILE, VOCABULARY_FILE):
        if not os.path.isfile(os.path.join(directory, name)):
            raise InputError(
                f"{directory}: no {name} (expected a Google BERT release: {CONFIG_FILE}, "
                f"{VOCABULARY_FILE}, {CHECKPOINT_PREFIX}.index and .data-* files)"
            )
    prefix = os.path.join(directory, CHECKPOINT_PREFIX)
    if not os.path.isfile(prefix + ".index"):
        indexes = glob.glob(os.path.join(directory, "*.index"))
        if len(indexes) != 1:
            raise InputError(
                f"{directory}: no {CHECKPOINT_PREFIX}.index"
                + (f" and several other checkpoints ({', '.join(indexes)})" if indexes else "")
            )
        prefix = indexes[0][: -len(".index")]
    shards = glob.glob(prefix + ".data-*-of-*")
    expected = int(shards[0].rsplit("-of-", 1)[1]) if shards else 1
    for shard in range(expected):
        name = f"{prefix}.data-{shard:05d}-of-{expected:05d}"
        if name not in shards:
            raise InputError(f"{directory}: {os.path.basename(name)} is missing")
    return prefix


def _read_config(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise InputError(f"{path}: expected a JSON object of BERT's settings")
    missing = [key for key in REQUIRED_CONFIG if key not in config]
    if missing:
        raise InputError(f"{path}: no {', '.join(missing)} (expected Google's bert_config.json)")
    for key in REQUIRED_CONFIG:
        if key != "hidden_act" and not (isinstance(config[key], int) and config[key] > 0):
            raise InputError(f"{path}: {key}={config[key]!r}; expected a positive integer")
    return config


def _backbone_config(bert_config: dict, path: str) -> tuple[dict, list]:
    """The Transformer's kwargs for a `bert_config.json`, and notes on what was decided.

    Raises:
        InputError: an activation the Transformer does not have, or heads that do not divide
            the hidden size.
    """
    activation = bert_config["hidden_act"]
    if activation not in ACTIVATIONS:
        raise InputError(
            f"{path}: hidden_act={activation!r} is not supported; expected one of "
            f"{sorted(ACTIVATIONS)} (the activations of Google's modeling.py)"
        )
    hidden, heads = bert_config["hidden_size"], bert_config["num_attention_heads"]
    if hidden % heads:
        raise InputError(
            f"{path}: num_attention_heads={heads} does not divide hidden_size={hidden}"
        )
    notes = []
    unknown = sorted(set(bert_config) - set(REQUIRED_CONFIG) - set(OPTIONAL_CONFIG))
    if unknown:
        notes.append(f"{os.path.basename(path)}: ignored settings {', '.join(unknown)}")
    dropout = bert_config.get("hidden_dropout_prob", 0.1)
    attention_dropout = bert_config.get("attention_probs_dropout_prob", dropout)
    if attention_dropout != dropout:
        notes.append(
            f"one dropout rate for the whole Transformer: attention_probs_dropout_prob="
            f"{attention_dropout} becomes hidden_dropout_prob={dropout}"
        )
    config = dict(
        vocabulary_size=bert_config["vocab_size"],
        num_layers=bert_config["num_hidden_layers"],
        num_heads=heads,
        hidden_dim=hidden,
        intermediate_dim=bert_config["intermediate_size"],
        dropout=dropout,
        max_sequence_length=bert_config["max_position_embeddings"],
        num_segments=bert_config["type_vocab_size"],
        intermediate_activation=ACTIVATIONS[activation],
        layer_norm_epsilon=bert_config.get("layer_norm_eps", 1e-12),
    )
    return config, notes


def _tokenizer(vocabulary, path, lower_case):
    """The tokenizer Google's `FullTokenizer` amounts to, and a note saying which it is."""
    how = "given"
    if lower_case is None:
        # Uncased vocabularies hold no upper-case letter; cased ones hold many.
        lower_case = not any(
            token.lower() != token for token in vocabulary if not token.startswith("[")
        )
        how = f"inferred: the vocabulary has {'no' if lower_case else 'some'} upper-case letters"
    config = TokenizerConfig(
        "wordpiece", lower_case=lower_case, normalization_form="", strip_accents=lower_case
    )
    try:
        tokenizer = Tokenizer(vocabulary, config)
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    kind = (
        "uncased: lower-cases and strips accents" if lower_case else "cased: keeps case and accents"
    )
    note = (
        f"tokenizer {kind}, as Google's does for this model ({how}); this project's default "
        "keeps accents, this bundle does as the source did"
    )
    return tokenizer, note


def _read_variables(prefix: str) -> tuple[dict, list]:
    """Every model variable of the checkpoint as an array, and the training-state ones left out."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        names = sorted(reader.get_variable_to_shape_map())
        ignored = [name for name in names if IGNORED_VARIABLE.search(name)]
        arrays = {name: reader.get_tensor(name) for name in names if name not in ignored}
    except (tf.errors.OpError, ValueError) as e:
        raise InputError(f"{prefix}: cannot be read as a TensorFlow checkpoint ({e})") from None
    return arrays, ignored


def _sizes(bert_config: dict) -> str:
    keys = ("num_hidden_layers", "hidden_size", "intermediate_size", "vocab_size")
    return ", ".join(f"{key}={bert_config[key]}" for key in keys)


def _backbone_layout(c: dict) -> dict:
    """Google's backbone variables by name -> (Transformer path, expected shape, conversion)."""
    hidden, inner = c["hidden_size"], c["intermediate_size"]
    heads = c["num_attention_heads"]
    size = hidden // heads
    layout = {
        "bert/embeddings/word_embeddings": (
            "embeddings/token_embedding/embeddings",
            (c["vocab_size"], hidden),
        ),
        "bert/embeddings/token_type_embeddings": (
            "embeddings/segment_embedding/embeddings",
            (c["type_vocab_size"], hidden),
        ),
        "bert/embeddings/position_embeddings": (
            "embeddings/position_embedding/embeddings",
            (c["max_position_embeddings"], hidden),
        ),
        "bert/embeddings/LayerNorm/gamma": ("embeddings/layer_norm/gamma", (hidden,)),
        "bert/embeddings/LayerNorm/beta": ("embeddings/layer_norm/beta", (hidden,)),
        "bert/pooler/dense/kernel": ("pooler/kernel", (hidden, hidden)),
        "bert/pooler/dense/bias": ("pooler/bias", (hidden,)),
    }
    for i in range(c["num_hidden_layers"]):
        google, ours = f"bert/encoder/layer_{i}/", f"transformer_layer_{i}/"
        for part in ("query", "key", "value"):
            # One [H, H] matrix for all heads; Keras keeps the heads apart: [H, heads, size].
            layout[f"{google}attention/self/{part}/kernel"] = (
                f"{ours}attention/{part}/kernel",
                (hidden, hidden),
                (hidden, heads, size),
            )
            layout[f"{google}attention/self/{part}/bias"] = (
                f"{ours}attention/{part}/bias",
                (hidden,),
                (heads, size),
            )
        layout.update(
            {
                f"{google}attention/output/dense/kernel": (
                    f"{ours}attention/attention_output/kernel",
                    (hidden, hidden),
                    (heads, size, hidden),
                ),
                f"{google}attention/output/dense/bias": (
                    f"{ours}attention/attention_output/bias",
                    (hidden,),
                ),
                f"{google}attention/output/LayerNorm/gamma": (
                    f"{ours}attention_norm/gamma",
                    (hidden,),
                ),
                f"{google}attention/output/LayerNorm/beta": (
                    f"{ours}attention_norm/beta",
                    (hidden,),
                ),
                f"{google}intermediate/dense/kernel": (
                    f"{ours}intermediate/kernel",
                    (hidden, inner),
                ),
                f"{google}intermediate/dense/bias": (f"{ours}intermediate/bias", (inner,)),
                f"{google}output/dense/kernel": (f"{ours}output/kernel", (inner, hidden)),
                f"{google}output/dense/bias": (f"{ours}output/bias", (hidden,)),
                f"{google}output/LayerNorm/gamma": (f"{ours}output_norm/gamma", (hidden,)),
                f"{google}output/LayerNorm/beta": (f"{ours}output_norm/beta", (hidden,)),
            }
        )
    return layout


def _head_layouts(c: dict) -> dict:
    """Google's head variables, by task, -> (path under the head, expected shape, conversion)."""
    hidden = c["hidden_size"]
    return {
        "masked_lm": {
            "cls/predictions/transform/dense/kernel": ("transform/kernel", (hidden, hidden)),
            "cls/predictions/transform/dense/bias": ("transform/bias", (hidden,)),
            "cls/predictions/transform/LayerNorm/gamma": ("layer_norm/gamma", (hidden,)),
            "cls/predictions/transform/LayerNorm/beta": ("layer_norm/beta", (hidden,)),
            "cls/predictions/output_bias": ("output_bias", (c["vocab_size"],)),
        },
        "next_sentence": {
            # Google multiplies by its transpose: logits = pooled @ output_weights^T.
            "cls/seq_relationship/output_weights": ("dense/kernel", (2, hidden), "transpose"),
            "cls/seq_relationship/output_bias": ("dense/bias", (2,)),
        },
    }


def _convert(arrays: dict, layout: dict, prefix: str, bert_config: dict) -> dict:
    """The layout's variables as `SourceWeight`s by Transformer path, shapes checked.

    A layout entry is (path, expected shape) or (path, expected shape, new shape or
    "transpose").

    Raises:
        InputError: a variable of the layout is missing or has another shape.
    """
    missing = sorted(set(layout) - set(arrays))
    if missing:
        raise InputError(
            f"{prefix}: no {', '.join(missing[:10])}"
            + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            + f" (expected for {CONFIG_FILE} {_sizes(bert_config)})"
        )
    weights = {}
    for name, (path, expected, *conversion) in layout.items():
        array = np.asarray(arrays[name], np.float32)
        if array.shape != expected:
            raise InputError(
                f"{prefix}: {name} has shape {array.shape}; {CONFIG_FILE} "
                f"({_sizes(bert_config)}) expects {expected}"
            )
        if conversion == ["transpose"]:
            array = array.T
        elif conversion:
            array = array.reshape(conversion[0])
        weights[path] = SourceWeight(array, name)
    return weights
