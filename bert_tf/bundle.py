"""The bundle: everything that passes from pretraining to fine-tuning, in one directory; and the
config schema it shares with the fine-tuned model directory (`classifier_bundle`).

    config.json           backbone name and config, tokenizer settings (with the special
                          tokens' ids), max sequence length, tasks, training summary, and a
                          checksum of every other file
    vocab.txt             the vocabulary, one token a line
    backbone.weights.h5   token embeddings and backbone (h5py; see `weights_file`)
    heads.weights.h5      the pretraining heads (to resume pretraining)

Each file is written to a temporary name and renamed; `config.json` goes last and records the
other files' checksums, so a bundle interrupted mid-write is detected on load, never used. Both
kinds of directory have the same `config.json` core (format version, backbone, tokenizer, max
sequence length, checksums), written by `write_config` and read by `read_bundle_config`; each
adds sections of its own (`tasks` and `training_summary` here, `classifier` there).
"""

import dataclasses
import hashlib
import json
import os

import backbones
from bert_tf import atomic_write, weights_file
from bert_tf.errors import InputError
from bert_tf.tokenization import SpecialTokenIds, Tokenizer, TokenizerConfig

CONFIG_FILE = "config.json"
VOCABULARY_FILE = "vocab.txt"
BACKBONE_WEIGHTS_FILE = "backbone.weights.h5"
HEADS_WEIGHTS_FILE = "heads.weights.h5"
FORMAT_VERSION = 1


def file_checksum(path: str) -> str:
    """The SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_config(
    directory, *, backbone_name, backbone, tokenizer, max_seq_length, files, **sections
):
    """Writes the vocabulary, then `config.json` with the checksums of it and of `files`.

    Call it after the weights files are in place: the config goes last, so a directory whose
    writing was interrupted is recognised on load.

    Args:
        directory: str. Holds `files` already.
        backbone_name: str. The backbone's registry name.
        backbone: keras.Model. Its `get_config()` rebuilds it.
        tokenizer: Tokenizer.
        max_seq_length: int. The sequence length the weights were trained with.
        files: list[str]. The weights files in `directory` to record checksums of.
        **sections: the directory kind's own config entries.
    """
    tokenizer.save_vocabulary(os.path.join(directory, VOCABULARY_FILE))
    config = {
        "format_version": FORMAT_VERSION,
        "backbone": {"name": backbone_name, "config": backbone.get_config()},
        "tokenizer": dict(
            dataclasses.asdict(tokenizer.config),
            vocabulary_size=tokenizer.vocabulary_size,
            special_token_ids=tokenizer.special_ids.by_name(),
        ),
        "max_seq_length": max_seq_length,
        **sections,
        "files": {
            name: file_checksum(os.path.join(directory, name)) for name in (VOCABULARY_FILE, *files)
        },
    }
    atomic_write.write_json(os.path.join(directory, CONFIG_FILE), config)


def save_bundle(
    directory,
    *,
    backbone_name,
    backbone,
    tokenizer,
    max_seq_length,
    tasks,
    training_summary,
    head_variables,
):
    """Writes a bundle into `directory` (created if needed).

    Args:
        directory: str.
        backbone_name: str. Its registry name.
        backbone: keras.Model. Its `get_config()` rebuilds it.
        tokenizer: Tokenizer.
        max_seq_length: int. The sequence length it was pretrained with.
        tasks: list[PretrainingTask]. Names and loss weights are recorded.
        training_summary: dict. Steps run and each task's figures at start and end.
        head_variables: list of keras.Variable. The pretraining heads' own variables.
    """
    os.makedirs(directory, exist_ok=True)
    weights_file.save_weights(os.path.join(directory, BACKBONE_WEIGHTS_FILE), backbone.weights)
    weights_file.save_weights(os.path.join(directory, HEADS_WEIGHTS_FILE), head_variables)
    write_config(
        directory,
        backbone_name=backbone_name,
        backbone=backbone,
        tokenizer=tokenizer,
        max_seq_length=max_seq_length,
        files=[BACKBONE_WEIGHTS_FILE, HEADS_WEIGHTS_FILE],
        tasks=[task.describe() for task in tasks],
        training_summary=training_summary,
    )


BUNDLE_EXPECTED = (
    "a bundle written by train_bert_lm.py: config.json, vocab.txt, backbone.weights.h5"
)


def read_bundle_config(
    directory: str, flag: str = "--init_checkpoint", expected: str = BUNDLE_EXPECTED
) -> dict:
    """Reads and checks a bundle's config: the files it names exist and match their checksums.

    Args:
        directory: str. A bundle or a fine-tuned model directory.
        flag: str. The flag that named it, for the message when it does not exist.
        expected: str. What that flag should name, for the same message.

    Raises:
        InputError: a missing directory or file, a file that changed since the config was
            written (a half-written bundle), or a config of another format.
    """
    if not os.path.isdir(directory):
        raise InputError(f"{flag}={directory}: no such directory (expected {expected})")
    path = os.path.join(directory, CONFIG_FILE)
    if not os.path.isfile(path):
        raise InputError(
            f"{directory}: no {CONFIG_FILE}; not a complete bundle (was pretraining interrupted "
            "before it finished? run train_bert_lm.py again with the same flags to finish it)"
        )
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
    for key in ("format_version", "backbone", "tokenizer", "max_seq_length", "files"):
        if key not in config:
            raise InputError(f"{path}: no {key!r} entry; not a bundle config")
    if config["format_version"] != FORMAT_VERSION:
        raise InputError(
            f"{path}: bundle format {config['format_version']}, this version reads {FORMAT_VERSION}"
        )
    name = config["backbone"].get("name")
    if name not in backbones.BACKBONES:
        raise InputError(
            f"{path}: names backbone {name!r}, which this installation does not have "
            f"(known: {sorted(backbones.BACKBONES)})"
        )
    verify_files(directory, config["files"])
    return config


def verify_files(directory: str, checksums: dict) -> None:
    """Checks that every file named in `checksums` exists and has that checksum.

    Raises:
        InputError: naming the missing or changed file.
    """
    for name, checksum in checksums.items():
        file_path = os.path.join(directory, name)
        if not os.path.isfile(file_path):
            raise InputError(f"{directory}: {name} is missing; the directory is incomplete")
        if file_checksum(file_path) != checksum:
            raise InputError(
                f"{file_path}: does not match the checksum in {CONFIG_FILE}; it was only partly "
                "written or was changed by hand. Write it again with the command that made it"
            )


def load_tokenizer(directory: str, config: dict) -> Tokenizer:
    """Rebuilds the bundle's tokenizer and checks its size and special token ids against the
    config. A bundle written before the config recorded the ids has them found by name.

    Raises:
        InputError: the vocabulary does not have the size or the special tokens the config
            records.
    """
    settings = dict(config["tokenizer"])
    expected_size = settings.pop("vocabulary_size")
    special_ids = settings.pop("special_token_ids", None)
    tokenizer = Tokenizer.from_files(
        os.path.join(directory, VOCABULARY_FILE),
        TokenizerConfig(**settings),
        SpecialTokenIds.from_names(special_ids) if special_ids else None,
    )
    backbone_size = config["backbone"]["config"].get("vocabulary_size")
    if tokenizer.vocabulary_size not in (expected_size,) or backbone_size != expected_size:
        raise InputError(
            f"{directory}: {VOCABULARY_FILE} has {tokenizer.vocabulary_size} tokens but the config "
            f"expects {expected_size} (backbone: {backbone_size}); vocabulary and weights do not "
            "belong together"
        )
    return tokenizer
