"""A corpus tokenized once into shards on disk, so training streams it in bounded memory.

    <directory>/shards.json            the manifest, written last: its presence marks a complete set
    <directory>/vocab.txt              the vocabulary the shards were made with
    <directory>/shard-00000.tfrecord   TFRecord files of four records: a JSON header, then the
    ...                                token ids (int32 [T]), sentence starts (int64 [N + 1]) and
                                       document ids (int64 [N]) as raw little-endian bytes

A shard holds whole documents: it ends at the first document end after `shard_tokens` tokens.
Each is written to a temporary name and renamed, and its header records the key of what made
it (the vocabulary, the tokenizer settings, the shard size and the input files' sizes and
modification times) and where in the input it ends. So a run killed midway leaves only complete
shards, and the next run with the same key keeps them and reads on from where the last one
ended; a changed vocabulary, setting or input file changes the key and the shards are made
again. Tokenization runs in a tf.data map over batches of sentences, in parallel, while the
files are read as a stream.
"""

import collections.abc
import dataclasses
import glob
import hashlib
import json
import os

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import atomic_write
from bert_tf.corpus_files import Position, file_identity, scan_corpus, sentence_batches
from bert_tf.errors import InputError
from bert_tf.pretraining_data import TokenizedCorpus
from bert_tf.tokenization import Tokenizer, TokenizerConfig

MANIFEST_FILE = "shards.json"
VOCABULARY_FILE = "vocab.txt"
FORMAT_VERSION = 1
_SHARD_NAME = "shard-{:05d}.tfrecord"
_ARRAYS = (("token_ids", np.int32), ("sentence_starts", np.int64), ("document_ids", np.int64))


def is_shard_directory(path: str) -> bool:
    """Whether `path` is a directory of shards (complete or not), rather than of text files."""
    return os.path.isdir(path) and (
        os.path.isfile(os.path.join(path, MANIFEST_FILE))
        or bool(glob.glob(os.path.join(path, "shard-*.tfrecord")))
    )


def vocabulary_checksum(vocabulary: list[str]) -> str:
    """The SHA-256 of a vocabulary, one token a line."""
    return hashlib.sha256("".join(t + "\n" for t in vocabulary).encode("utf-8")).hexdigest()


def shard_key(tokenizer: Tokenizer, shard_tokens: int, identities: list[dict]) -> str:
    """What shards depend on, hashed: vocabulary, tokenizer settings, shard size, input files."""
    made_from = {
        "format_version": FORMAT_VERSION,
        "vocabulary": vocabulary_checksum(tokenizer.vocabulary),
        "tokenizer": dataclasses.asdict(tokenizer.config),
        "shard_tokens": shard_tokens,
        "files": identities,
    }
    return hashlib.sha256(json.dumps(made_from, sort_keys=True).encode("utf-8")).hexdigest()


class ShardedCorpus(collections.abc.Sequence):
    """A complete set of shards; indexing it loads one shard as a `TokenizedCorpus`.

    Args:
        directory: str. Holds `shards.json`.

    Attributes:
        manifest: dict. What `shards.json` holds: `key`, `tokenizer`, `vocabulary_checksum`,
            `shards` (each with its file name and counts), `num_documents`, `num_tokens`.

    Raises:
        InputError: no manifest (an interrupted preprocessing), or a vocabulary that does not
            match it.
    """

    def __init__(self, directory: str):
        self.directory = directory
        path = os.path.join(directory, MANIFEST_FILE)
        if not os.path.isfile(path):
            raise InputError(
                f"{directory}: no {MANIFEST_FILE}, so its shards are incomplete (was preprocessing "
                "interrupted? run the command that made them again to finish them)"
            )
        with open(path, encoding="utf-8") as f:
            self.manifest = json.load(f)
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise InputError(
                f"{path}: shard format {self.manifest.get('format_version')}, "
                f"this version reads {FORMAT_VERSION}; make the shards again"
            )
        self._tokenizer = Tokenizer.from_files(
            os.path.join(directory, VOCABULARY_FILE),
            TokenizerConfig(**self.manifest["tokenizer"]),
        )
        if vocabulary_checksum(self._tokenizer.vocabulary) != self.manifest["vocabulary_checksum"]:
            raise InputError(
                f"{directory}: {VOCABULARY_FILE} is not the vocabulary the shards were made with"
            )

    @property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer the shards were made with."""
        return self._tokenizer

    @property
    def num_documents(self) -> int:
        return self.manifest["num_documents"]

    def __len__(self) -> int:
        return len(self.manifest["shards"])

    def __getitem__(self, index: int) -> TokenizedCorpus:
        path = os.path.join(self.directory, self.manifest["shards"][index]["file"])
        header, arrays = read_shard(path)
        if header["key"] != self.manifest["key"]:
            raise InputError(
                f"{path}: made with another vocabulary or other settings than the rest of "
                f"{self.directory} (its {MANIFEST_FILE}); shards of two runs were mixed. Make "
                "them again into an empty directory"
            )
        return TokenizedCorpus(**arrays)

    def check_tokenizer(self, tokenizer: Tokenizer, source: str) -> None:
        """Raises InputError unless the shards were made with `tokenizer` (from `source`)."""
        if tokenizer.vocabulary != self._tokenizer.vocabulary:
            raise InputError(
                f"--corpus={self.directory}: the shards were made with another vocabulary "
                f"({self._tokenizer.vocabulary_size} tokens, {VOCABULARY_FILE} there) than "
                f"{source} ({tokenizer.vocabulary_size} tokens); their token ids would mean "
                "other tokens. Use the shards' vocabulary (leave --vocab_file out) or make the "
                "shards again with this one"
            )
        if tokenizer.config != self._tokenizer.config:
            raise InputError(
                f"--corpus={self.directory}: the shards were made with tokenizer settings "
                f"{dataclasses.asdict(self._tokenizer.config)}, {source} has "
                f"{dataclasses.asdict(tokenizer.config)}"
            )


def read_shard(path: str) -> tuple[dict, dict]:
    """Reads one shard file.

    Returns:
        (header dict, dict of the `TokenizedCorpus` arrays and `num_dropped_sentences`).

    Raises:
        InputError: the file is missing, truncated or corrupt.
    """
    try:
        records = [record.numpy() for record in tf.data.TFRecordDataset(path)]
        header = json.loads(records[0])
    except (tf.errors.OpError, IndexError, ValueError) as e:
        raise InputError(
            f"{path}: not a complete shard ({getattr(e, 'message', e)}); make the shards again"
        ) from None
    arrays = {
        name: np.frombuffer(record, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
        for (name, dtype), record in zip(_ARRAYS, records[1:])
    }
    return header, dict(arrays, num_dropped_sentences=header["dropped_sentences"])


def shards_ready(directory: str, paths: list[str], tokenizer: Tokenizer, shard_tokens: int) -> bool:
    """Whether `directory` holds the complete shards of the files `paths`, as they are now,
    made with `tokenizer` and `shard_tokens` (so `prepare_shards` would reuse them).

    Raises:
        InputError: a file is missing or cannot be read.
    """
    identities = [file_identity(path) for path in paths]
    return _manifest_key(directory) == shard_key(tokenizer, shard_tokens, identities)


def prepare_shards(
    directory: str,
    paths: list[str],
    tokenizer: Tokenizer,
    shard_tokens: int,
    *,
    scan=None,
    make: bool = True,
) -> ShardedCorpus:
    """The corpus in `paths` as shards in `directory`: reused if they match, else made (or
    finished, after an interrupted run).

    Args:
        directory: str. Where the shards are kept.
        paths: list[str]. The corpus files (`corpus_files.corpus_paths`).
        tokenizer: Tokenizer.
        shard_tokens: int. A shard ends at the first document end after this many tokens.
        scan: CorpusScan or None. The corpus's scan, if it was read already.
        make: bool. False for a reader that must find them complete (a worker that is not the
            chief).

    Raises:
        InputError: unreadable input (naming the file and line), or no complete shards when
            `make` is False.
    """
    identities = [file_identity(path) for path in paths]
    key = shard_key(tokenizer, shard_tokens, identities)
    if _manifest_key(directory) == key:
        logging.info("reusing the corpus shards in %s", directory)
        return ShardedCorpus(directory)
    if not make:
        raise InputError(
            f"{directory}: no complete shards of this corpus and vocabulary; the chief makes "
            "them before the other workers start: run the same command on every worker"
        )
    scan = scan or scan_corpus(paths)
    os.makedirs(directory, exist_ok=True)
    manifest = os.path.join(directory, MANIFEST_FILE)
    if os.path.exists(manifest):
        logging.info("%s: made from another vocabulary, settings or files; remaking", directory)
        os.remove(manifest)
    headers = _completed_shards(directory, key)
    start = Position(**headers[-1]["end"]) if headers else Position()
    if headers:
        logging.info(
            "%s: keeping %d shards of an interrupted run; reading on from %s line %d",
            directory,
            len(headers),
            scan.files[start.file].path if start.file < len(scan.files) else "the end",
            start.line,
        )
    headers += _write_shards(
        directory, scan.files, start, len(headers), key, tokenizer, shard_tokens
    )
    if not headers:
        raise InputError(f"{paths[0]}: no sentence of the corpus has any token after tokenization")
    tokenizer.save_vocabulary(os.path.join(directory, VOCABULARY_FILE))
    dropped = sum(header["dropped_sentences"] for header in headers)
    if dropped:
        logging.warning("%d sentences had no token and were left out", dropped)
    atomic_write.write_json(
        manifest,
        {
            "format_version": FORMAT_VERSION,
            "key": key,
            "tokenizer": dataclasses.asdict(tokenizer.config),
            "vocabulary_size": tokenizer.vocabulary_size,
            "vocabulary_checksum": vocabulary_checksum(tokenizer.vocabulary),
            "shard_tokens": shard_tokens,
            "files": identities,
            "shards": [
                {"file": _SHARD_NAME.format(h["index"]), **{k: h[k] for k in _COUNTS}}
                for h in headers
            ],
            **{f"num_{k}": sum(h[k] for h in headers) for k in _COUNTS},
        },
    )
    corpus = ShardedCorpus(directory)
    logging.info(
        "corpus: %d tokens, %d sentences, %d documents in %d shards (%s)",
        *(corpus.manifest[f"num_{k}"] for k in ("tokens", "sentences", "documents")),
        len(corpus),
        directory,
    )
    return corpus


_COUNTS = ("tokens", "sentences", "documents")


def _manifest_key(directory):
    path = os.path.join(directory, MANIFEST_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f).get("key")


def _completed_shards(directory, key) -> list[dict]:
    """The headers of shards 0, 1, ... already made with `key`; every other shard file (of
    another key, after a gap, or half-written by a killed run) is removed."""
    headers = []
    for path in sorted(glob.glob(os.path.join(directory, "shard-*"))):
        expected = os.path.join(directory, _SHARD_NAME.format(len(headers)))
        header = None
        if path == expected:
            try:
                header = json.loads(next(iter(tf.data.TFRecordDataset(path).take(1))).numpy())
            except (tf.errors.OpError, StopIteration, ValueError):
                header = None
        if header and header.get("key") == key:
            headers.append(header)
        else:
            os.remove(path)
    return headers


def _write_shards(directory, files, start, first_index, key, tokenizer, shard_tokens):
    """Tokenizes the corpus from `start` on and writes its shards; returns their headers."""
    batches = sentence_batches(files, start)
    dataset = (
        tf.data.Dataset.from_generator(
            lambda: ((b.sentences, b.documents, b.ends) for b in batches),
            output_signature=(
                tf.TensorSpec([None], tf.string),
                tf.TensorSpec([None], tf.int64),
                tf.TensorSpec([None, 3], tf.int64),
            ),
        )
        .map(
            lambda sentences, documents, ends: (
                tokenizer.tokenize(sentences),
                documents,
                ends,
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        .prefetch(tf.data.AUTOTUNE)
    )
    pending = _Pending()
    headers = []
    for ids, documents, ends in dataset:
        pending.add(
            ids.flat_values.numpy(), ids.row_lengths().numpy(), documents.numpy(), ends.numpy()
        )
        while (cut := pending.document_end_after(shard_tokens)) is not None:
            headers.append(
                _write_shard(directory, first_index + len(headers), key, *pending.take(cut))
            )
    if pending.num_sentences and pending.num_tokens:
        headers.append(
            _write_shard(
                directory, first_index + len(headers), key, *pending.take(pending.num_sentences)
            )
        )
    return headers


class _Pending:
    """Tokenized sentences not yet in a shard, as flat arrays."""

    def __init__(self):
        self.tokens = np.zeros([0], np.int32)
        self.lengths = np.zeros([0], np.int64)
        self.documents = np.zeros([0], np.int64)
        self.ends = np.zeros([0, 3], np.int64)

    @property
    def num_sentences(self) -> int:
        return len(self.lengths)

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    def add(self, tokens, lengths, documents, ends):
        self.tokens = np.concatenate([self.tokens, tokens.astype(np.int32)])
        self.lengths = np.concatenate([self.lengths, lengths.astype(np.int64)])
        self.documents = np.concatenate([self.documents, documents])
        self.ends = np.concatenate([self.ends, ends])

    def document_end_after(self, shard_tokens):
        """The number of sentences up to the first document end at or after `shard_tokens`
        tokens, or None if that document may go on in sentences not read yet."""
        reached = int(np.searchsorted(np.cumsum(self.lengths), shard_tokens))
        if reached >= self.num_sentences:
            return None
        later = np.flatnonzero(self.documents[reached + 1 :] != self.documents[reached])
        return reached + 1 + int(later[0]) if len(later) else None

    def take(self, count):
        """Removes the first `count` sentences; returns their tokens, lengths, documents and
        the position after the last."""
        num_tokens = int(self.lengths[:count].sum())
        taken = (self.tokens[:num_tokens], self.lengths[:count], self.documents[:count])
        end = self.ends[count - 1]
        self.tokens, self.lengths = self.tokens[num_tokens:], self.lengths[count:]
        self.documents, self.ends = self.documents[count:], self.ends[count:]
        return (*taken, end)


def _write_shard(directory, index, key, tokens, lengths, documents, end) -> dict:
    """Writes one shard atomically (sentences with no token left out); returns its header."""
    kept = lengths > 0
    _, document_ids = np.unique(documents[kept], return_inverse=True)
    arrays = {
        "token_ids": tokens.astype(np.int32),
        "sentence_starts": np.concatenate([[0], np.cumsum(lengths[kept])]).astype(np.int64),
        "document_ids": document_ids.astype(np.int64),
    }
    header = {
        "format_version": FORMAT_VERSION,
        "key": key,
        "index": index,
        "end": dict(zip(("file", "offset", "line"), map(int, end))),
        "tokens": len(tokens),
        "sentences": int(kept.sum()),
        "documents": int(document_ids.max()) + 1,
        "dropped_sentences": int((~kept).sum()),
    }
    path = os.path.join(directory, _SHARD_NAME.format(index))
    with atomic_write.atomic_path(path) as temporary:
        with tf.io.TFRecordWriter(temporary) as writer:
            writer.write(json.dumps(header).encode("utf-8"))
            for name, dtype in _ARRAYS:
                writer.write(arrays[name].astype(np.dtype(dtype).newbyteorder("<")).tobytes())
    return header
