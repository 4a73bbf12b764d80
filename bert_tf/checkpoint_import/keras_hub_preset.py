"""A keras-hub BERT preset saved in a local directory (`save_to_preset`) as a bundle.

The directory holds `config.json` (a `keras_hub>BertBackbone`), `model.weights.h5`,
`tokenizer.json` (a `BertTokenizer`) and `assets/tokenizer/vocabulary.txt`; a `BertMaskedLM`
saved with `save_to_preset` adds `task.json` and `task.weights.h5`, and its masked-LM head is
taken too. keras-hub loads the preset (it is needed only here: `pip install
"keras-hub==0.32.*"`), and its variables, laid out as this project's Transformer and masked-LM
head lay them out, are renamed. keras-hub's `BertBackbone` computes the feed-forward with the
tanh-approximate GELU and LayerNorm epsilon 1e-12; the tokenizer's `lowercase` and
`strip_accents` are kept, and like keras-hub's it applies no Unicode normalization. A preset of
another family (DistilBERT, RoBERTa, ...) is refused: its weights mean something else.
"""

import json
import os
import re

import numpy as np
from absl import logging

from bert_tf.checkpoint_import.imported_checkpoint import ImportedCheckpoint, SourceWeight
from bert_tf.errors import InputError
from bert_tf.tokenization import Tokenizer, TokenizerConfig

CONFIG_FILE = "config.json"
PRESET_FILES = (
    CONFIG_FILE,
    "model.weights.h5",
    "tokenizer.json",
    "assets/tokenizer/vocabulary.txt",
)
TASK_FILE = "task.json"
BACKBONE_CLASS = "keras_hub>BertBackbone"
TOKENIZER_CLASS = "keras_hub>BertTokenizer"
MASKED_LM_CLASS = "keras_hub>BertMaskedLM"
#: keras-hub's BertBackbone variable paths -> the Transformer's.
RENAMES = (
    (r"^token_embedding/", "embeddings/token_embedding/"),
    (r"^position_embedding/", "embeddings/position_embedding/"),
    (r"^segment_embedding/", "embeddings/segment_embedding/"),
    (r"^embeddings_layer_norm/", "embeddings/layer_norm/"),
    (
        r"^(transformer_layer_\d+)/self_attention_layer/(query|key|value|attention_output)/",
        r"\1/attention/\2/",
    ),
    (r"^(transformer_layer_\d+)/self_attention_layer_norm/", r"\1/attention_norm/"),
    (r"^(transformer_layer_\d+)/feedforward_intermediate_dense/", r"\1/intermediate/"),
    (r"^(transformer_layer_\d+)/feedforward_output_dense/", r"\1/output/"),
    (r"^(transformer_layer_\d+)/feedforward_layer_norm/", r"\1/output_norm/"),
    (r"^pooled_dense/", "pooler/"),
)
#: keras-hub's BertMaskedLM head variable paths -> the masked-LM head's (its token embedding is
#: the backbone's, tied).
MASKED_LM_RENAMES = (
    (r"^mlm_head/intermediate_dense/", "transform/"),
    (r"^mlm_head/intermediate_layer_norm/", "layer_norm/"),
    (r"^mlm_head/output_bias$", "output_bias"),
)


def is_keras_hub_preset(directory: str) -> bool:
    """Whether `directory` looks like a keras-hub preset (its `config.json` names a class)."""
    try:
        return "registered_name" in _read_json(os.path.join(directory, CONFIG_FILE))
    except InputError:
        return False


def read_keras_hub_preset(directory: str) -> ImportedCheckpoint:
    """Reads a keras-hub BERT preset directory.

    Raises:
        InputError: a missing file, a preset of another model family, a tokenizer setting this
            project's tokenizer cannot reproduce, keras-hub missing, or a vocabulary that does
            not fit the embedding.
    """
    task = _check_files(directory)
    keras_hub = _keras_hub()
    try:
        if task == MASKED_LM_CLASS:
            masked_lm = keras_hub.models.BertMaskedLM.from_preset(directory)
            source, head = masked_lm.backbone, masked_lm.masked_lm_head
        else:
            source, head = keras_hub.models.BertBackbone.from_preset(directory), None
        source_tokenizer = keras_hub.models.BertTokenizer.from_preset(directory)
    except Exception as e:  # keras-hub raises many kinds; the message says what went wrong
        raise InputError(f"{directory}: keras-hub cannot load the preset ({e})") from None
    tokenizer, note = _tokenizer(source_tokenizer, directory)
    notes = [note]
    if task and task != MASKED_LM_CLASS:
        notes.append(f"{TASK_FILE}: the head of a {task} is no pretraining head; left out")
    config = source.get_config()
    backbone_config = dict(
        vocabulary_size=config["vocabulary_size"],
        num_layers=config["num_layers"],
        num_heads=config["num_heads"],
        hidden_dim=config["hidden_dim"],
        intermediate_dim=config["intermediate_dim"],
        dropout=config["dropout"],
        max_sequence_length=config["max_sequence_length"],
        num_segments=config["num_segments"],
        intermediate_activation="gelu_approximate",
        layer_norm_epsilon=1e-12,
    )
    if tokenizer.vocabulary_size != config["vocabulary_size"]:
        raise InputError(
            f"{directory}: the vocabulary has {tokenizer.vocabulary_size} tokens, but the token "
            f"embedding has {config['vocabulary_size']} rows; they do not belong together"
        )
    weights = _renamed_weights(source.weights, RENAMES, directory)
    head_weights = {}
    if head is not None:
        tied = {id(v) for v in source.weights}
        own = [v for v in head.weights if id(v) not in tied]
        head_weights["masked_lm"] = _renamed_weights(own, MASKED_LM_RENAMES, directory)
        notes.append(
            "masked-LM head from the BertMaskedLM task; its LayerNorm epsilon becomes 1e-12 "
            "(keras-hub's head uses 1e-5)"
        )
    for text in notes:
        logging.info("%s: %s", directory, text)
    return ImportedCheckpoint(
        "keras_hub_preset", directory, backbone_config, tokenizer, weights, head_weights, notes
    )


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise InputError(f"{path}: not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


def _check_files(directory: str) -> str | None:
    """Checks the preset's files and classes; returns the class of its task, if it has one.

    Raises:
        InputError: naming a missing file or a class that is not BERT's.
    """
    if not os.path.isdir(directory):
        raise InputError(f"{directory}: no such directory (expected a keras-hub BERT preset)")
    for name in PRESET_FILES:
        if not os.path.isfile(os.path.join(directory, name)):
            raise InputError(
                f"{directory}: no {name} (expected a preset saved by keras-hub's save_to_preset: "
                f"{', '.join(PRESET_FILES)})"
            )
    for name, expected in ((CONFIG_FILE, BACKBONE_CLASS), ("tokenizer.json", TOKENIZER_CLASS)):
        found = _read_json(os.path.join(directory, name)).get("registered_name")
        if found != expected:
            raise InputError(
                f"{os.path.join(directory, name)}: a {found} preset, not BERT (expected "
                f"{expected}); only BERT's weights mean what this project's Transformer computes"
            )
    task_path = os.path.join(directory, TASK_FILE)
    return _read_json(task_path).get("registered_name") if os.path.isfile(task_path) else None


def _keras_hub():
    try:
        import keras_hub
    except ImportError as e:
        raise InputError(
            f"reading a keras-hub preset needs keras-hub ({e}); pip install 'keras-hub==0.32.*'"
        ) from None
    return keras_hub


def _tokenizer(source, directory):
    """This project's tokenizer doing what keras-hub's `BertTokenizer` does, and a note."""
    unsupported = {
        "split": (source.split, True),
        "split_on_cjk": (source.split_on_cjk, True),
        "suffix_indicator": (source.suffix_indicator, "##"),
        "oov_token": (source.oov_token, "[UNK]"),
    }
    for name, (value, supported) in unsupported.items():
        if value != supported:
            raise InputError(
                f"{directory}: tokenizer {name}={value!r}; this project's tokenizer does "
                f"{name}={supported!r} only"
            )
    config = TokenizerConfig(
        "wordpiece",
        lower_case=bool(source.lowercase),
        normalization_form="",
        strip_accents=bool(source.strip_accents),
    )
    try:
        tokenizer = Tokenizer(list(source.get_vocabulary()), config)
    except InputError as e:
        raise InputError(f"{directory}: {e}") from None
    note = (
        f"tokenizer as the preset's: lowercase={config.lower_case}, "
        f"strip_accents={config.strip_accents}, no Unicode normalization"
    )
    return tokenizer, note


def _renamed_weights(variables, renames, directory) -> dict:
    """`SourceWeight`s by this project's path.

    Raises:
        InputError: naming a variable no rename applies to.
    """
    weights = {}
    for variable in variables:
        for pattern, replacement in renames:
            path, count = re.subn(pattern, replacement, variable.path)
            if count:
                break
        else:
            raise InputError(f"{directory}: no place in this project's model for {variable.path}")
        weights[path] = SourceWeight(np.asarray(variable.numpy(), np.float32), variable.path)
    return weights
