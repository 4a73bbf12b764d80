"""Tests for bert_tf.corpus_shards: a corpus tokenized once into shards of whole documents,
reused while nothing changed, remade when the vocabulary or the input changes, finished (not
restarted) after an interrupted run, and refused when it belongs to another vocabulary.

The corpora have distinct tokens (`t0 t1 ...`, id = k + 5 with a whitespace tokenizer), so the
shards can be compared with the in-memory tokenization token for token.
"""

import os

import numpy as np
import pytest

from bert_tf import corpus_shards
from bert_tf.corpus import read_corpus
from bert_tf.corpus_shards import ShardedCorpus, is_shard_directory, prepare_shards
from bert_tf.errors import InputError
from bert_tf.pretraining_data import tokenize_corpus
from bert_tf.tokenization import SPECIAL_TOKENS, Tokenizer, TokenizerConfig

SHARD_TOKENS = 20


def write_corpus(directory, num_files=3, documents_per_file=5, seed=0):
    """Files of documents of 1-3 sentences of 2-6 distinct tokens; returns (paths, tokens)."""
    rng = np.random.default_rng(seed)
    paths, counter = [], 0
    directory.mkdir(exist_ok=True)
    for k in range(num_files):
        lines = []
        for _ in range(documents_per_file):
            for length in rng.integers(2, 7, rng.integers(1, 4)):
                lines.append(" ".join(f"t{counter + i}" for i in range(length)))
                counter += length
            lines.append("")
        path = directory / f"part{k}.txt"
        path.write_text("\n".join(lines), encoding="utf-8")
        paths.append(str(path))
    return paths, counter


@pytest.fixture
def corpus(tmp_path):
    paths, num_tokens = write_corpus(tmp_path / "text")
    vocabulary = list(SPECIAL_TOKENS) + [f"t{i}" for i in range(num_tokens)]
    return paths, Tokenizer(vocabulary, TokenizerConfig("whitespace"))


@pytest.fixture
def shard_writes(monkeypatch):
    """Counts the shard files written."""
    written = []
    write = corpus_shards._write_shard

    def counting(directory, index, *args):
        written.append(index)
        return write(directory, index, *args)

    monkeypatch.setattr(corpus_shards, "_write_shard", counting)
    return written


def test_shards_hold_whole_documents_and_every_token_once(tmp_path, corpus):
    paths, tokenizer = corpus
    shards = prepare_shards(str(tmp_path / "shards"), paths, tokenizer, SHARD_TOKENS)
    assert len(shards) >= 3
    loaded = list(shards)
    tokens = np.concatenate([shard.token_ids for shard in loaded])
    assert np.array_equal(tokens, np.arange(len(tokens)) + len(SPECIAL_TOKENS))
    # The same sentences and documents as tokenizing each file in memory.
    in_memory = [tokenize_corpus(read_corpus(path), tokenizer) for path in paths]
    starts = np.concatenate([shard.sentence_starts[:-1] + shard.token_ids[0] for shard in loaded])
    expected = np.concatenate([c.sentence_starts[:-1] + c.token_ids[0] for c in in_memory])
    assert np.array_equal(starts, expected)
    document_of_token, first_token = {}, 0
    for c in in_memory:
        for document, start, stop in zip(
            c.document_ids, c.sentence_starts[:-1], c.sentence_starts[1:]
        ):
            document_of_token.update(
                {int(t): (first_token, int(document)) for t in c.token_ids[start:stop]}
            )
        first_token += len(c.token_ids)
    for shard in loaded[:-1]:
        # A shard ends at a document end, once past SHARD_TOKENS tokens.
        assert len(shard.token_ids) >= SHARD_TOKENS
        last = document_of_token[int(shard.token_ids[-1])]
        after = document_of_token[int(shard.token_ids[-1]) + 1]
        assert last != after
    assert shards.manifest["num_tokens"] == len(tokens)
    assert shards.num_documents == sum(c.num_documents for c in in_memory)


def test_a_rerun_reuses_the_shards_and_a_new_vocabulary_remakes_them(
    tmp_path, corpus, shard_writes
):
    paths, tokenizer = corpus
    directory = str(tmp_path / "shards")
    first = prepare_shards(directory, paths, tokenizer, SHARD_TOKENS)
    made = len(shard_writes)
    assert made == len(first)
    prepare_shards(directory, paths, tokenizer, SHARD_TOKENS)
    assert len(shard_writes) == made  # reused
    other = Tokenizer(tokenizer.vocabulary + ["extra"], tokenizer.config)
    remade = prepare_shards(directory, paths, other, SHARD_TOKENS)
    assert len(shard_writes) == 2 * made
    assert remade.tokenizer.vocabulary == other.vocabulary
    with open(paths[1], "a", encoding="utf-8") as f:  # a changed input file
        f.write("\nt0 t1\n")
    prepare_shards(directory, paths, other, SHARD_TOKENS)
    assert len(shard_writes) == 3 * made


def test_an_interrupted_run_redoes_only_what_is_missing(tmp_path, corpus, monkeypatch):
    paths, tokenizer = corpus
    fresh = prepare_shards(str(tmp_path / "fresh"), paths, tokenizer, SHARD_TOKENS)
    directory = tmp_path / "shards"
    write = corpus_shards._write_shard

    def dies_after_two(target, index, *args):
        if index == 2:
            # A kill leaves a temporary file behind (the rename never happened).
            (directory / "shard-00002.tfrecord.tmp-99").write_bytes(b"half a shard")
            raise KeyboardInterrupt
        return write(target, index, *args)

    monkeypatch.setattr(corpus_shards, "_write_shard", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        prepare_shards(str(directory), paths, tokenizer, SHARD_TOKENS)
    assert sorted(os.listdir(directory)) == [
        "shard-00000.tfrecord",
        "shard-00001.tfrecord",
        "shard-00002.tfrecord.tmp-99",
    ]
    assert is_shard_directory(str(directory))
    with pytest.raises(InputError, match="no shards.json, so its shards are incomplete"):
        ShardedCorpus(str(directory))
    kept = {name: os.stat(directory / name).st_mtime_ns for name in os.listdir(directory)}

    written = []
    monkeypatch.setattr(corpus_shards, "_write_shard", lambda *a: written.append(a[1]) or write(*a))
    finished = prepare_shards(str(directory), paths, tokenizer, SHARD_TOKENS)
    assert written == list(range(2, len(fresh)))
    for name in ("shard-00000.tfrecord", "shard-00001.tfrecord"):
        assert os.stat(directory / name).st_mtime_ns == kept[name]
    assert "shard-00002.tfrecord.tmp-99" not in os.listdir(directory)
    assert finished.manifest["shards"] == fresh.manifest["shards"]
    for a, b in zip(finished, fresh):
        assert np.array_equal(a.token_ids, b.token_ids)
        assert np.array_equal(a.document_ids, b.document_ids)


def test_shards_of_another_vocabulary_are_an_error(tmp_path, corpus):
    paths, tokenizer = corpus
    directory = str(tmp_path / "shards")
    shards = prepare_shards(directory, paths, tokenizer, SHARD_TOKENS)
    shards.check_tokenizer(tokenizer, "--vocab_file=v.txt")  # the same: fine
    other = Tokenizer(tokenizer.vocabulary[:-1], tokenizer.config)
    with pytest.raises(InputError, match="made with another vocabulary.*--vocab_file=v.txt"):
        shards.check_tokenizer(other, "--vocab_file=v.txt")
    # A shard of another run's vocabulary slipped in among them.
    other_dir = str(tmp_path / "other")
    prepare_shards(other_dir, paths, other, SHARD_TOKENS)
    os.replace(
        os.path.join(other_dir, "shard-00001.tfrecord"),
        os.path.join(directory, "shard-00001.tfrecord"),
    )
    shards = ShardedCorpus(directory)
    shards[0]
    with pytest.raises(InputError, match=r"shard-00001\.tfrecord: made with another vocabulary"):
        shards[1]


def test_a_damaged_shard_is_an_error(tmp_path, corpus):
    paths, tokenizer = corpus
    directory = tmp_path / "shards"
    shards = prepare_shards(str(directory), paths, tokenizer, SHARD_TOKENS)
    path = directory / "shard-00000.tfrecord"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(InputError, match=r"shard-00000\.tfrecord: not a complete shard"):
        shards[0]
