"""Tests for bert_tf.pretraining_data: example layouts, single segments, sentence pairs, epochs
and seeds.

The tests use corpora in which every token is distinct (`t0 t1 t2 ...`), so each token id names
one place in the flat corpus and "B directly follows A" or "no token is lost" can be checked
exactly.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.batching import static_lengths
from bert_tf.corpus import read_corpus
from bert_tf.errors import InputError
from bert_tf.pretraining_data import (
    SINGLE_SEGMENT,
    ExampleLayout,
    PretrainingExamples,
    TokenizedCorpus,
    combine_layouts,
    join_documents,
    pack_chunks,
    pretraining_dataset,
    single_segment_chunks,
    tokenize_corpus,
)
from bert_tf.tokenization import (
    SPECIAL_TOKENS,
    SpecialTokenIds,
    Tokenizer,
    TokenizerConfig,
    learn_vocabulary,
)
from pretrain_tasks.base import PretrainingTask
from pretrain_tasks.masked_lm import MaskedLM
from pretrain_tasks.next_sentence import NextSentence

CLS_ID, SEP_ID = SpecialTokenIds().cls, SpecialTokenIds().sep  # a learned vocabulary's
SAMPLE_CORPUS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "data",
    "corpus.txt",
)

# ---------------------------------------------------------------------------------------------
# Corpora of distinct tokens, tokenized once.


def distinct_token_corpus(tmp_path, sentence_lengths_per_document, one_document_per_line=False):
    """Writes a corpus whose k-th token is `tk`, and returns it tokenized (id of tk = k + 5).

    By default one sentence a line and a blank line after each document; with
    `one_document_per_line`, each document (of one sentence: `tk` has no `. ! ?`) is a line.
    """
    lines, counter = [], 0
    for document in sentence_lengths_per_document:
        for length in document:
            lines.append(" ".join(f"t{counter + i}" for i in range(length)))
            counter += length
        if not one_document_per_line:
            lines.append("")
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    vocabulary = list(SPECIAL_TOKENS) + [f"t{i}" for i in range(counter)]
    tokenizer = Tokenizer(vocabulary, TokenizerConfig("whitespace"))
    tokenized = tokenize_corpus(read_corpus(str(path)), tokenizer)
    assert np.array_equal(tokenized.token_ids, np.arange(counter) + len(SPECIAL_TOKENS))
    return tokenized


def sentence_lengths(num_documents, sentences, low, high, seed=0):
    rng = np.random.default_rng(seed)
    return [
        rng.integers(low, high + 1, rng.integers(sentences[0], sentences[1] + 1)).tolist()
        for _ in range(num_documents)
    ]


def examples(dataset, num_batches):
    """Unbatches dense batches into per-example dicts with the padding cut off."""
    result = []
    for batch in dataset.take(num_batches):
        batch = {key: value.numpy() for key, value in batch.items()}
        for row in range(len(batch["token_ids"])):
            length = int(batch["padding_mask"][row].sum())
            example = {key: value[row] for key, value in batch.items()}
            for key in ("token_ids", "segment_ids", "padding_mask"):
                assert np.all(example[key][length:] == 0)
                example[key] = example[key][:length]
            result.append(example)
    return result


def unmasked(example):
    tokens = example["token_ids"].copy()
    if "masked_lm_weights" in example:
        real = example["masked_lm_weights"] == 1
        tokens[example["masked_lm_positions"][real]] = example["masked_lm_ids"][real]
    return tokens


def split_single(tokens):
    """`[CLS] A [SEP]` -> A, checking the frame."""
    assert tokens[0] == CLS_ID and tokens[-1] == SEP_ID
    assert np.flatnonzero(tokens == SEP_ID).tolist() == [len(tokens) - 1], tokens
    return tokens[1:-1]


def position(tokens):
    """Token ids of a distinct-token corpus -> their positions in the flat corpus."""
    return tokens.astype(np.int64) - len(SPECIAL_TOKENS)


def split_pair(tokens):
    """`[CLS] A [SEP] B [SEP]` -> (A, B), checking the frame."""
    assert tokens[0] == CLS_ID and tokens[-1] == SEP_ID
    separators = np.flatnonzero(tokens == SEP_ID)
    assert len(separators) == 2, tokens
    first = separators[0]
    return tokens[1:first], tokens[first + 1 : -1]


def test_tokenize_corpus_drops_empty_sentences_and_renumbers_documents(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("a b\n!!!\n\n!!! ???\n\nb c\nc\n", encoding="utf-8")
    vocabulary = list(SPECIAL_TOKENS) + ["a", "b", "c"]
    tokenizer = Tokenizer(vocabulary, TokenizerConfig("wordpiece"))
    tokenized = tokenize_corpus(read_corpus(str(path)), tokenizer)
    # "!!!" becomes [UNK] tokens in wordpiece, so nothing is dropped here ...
    assert tokenized.num_sentences == 5
    whitespace = Tokenizer(vocabulary, TokenizerConfig("whitespace"))
    path.write_text("a b\n\n\n\nb c\nc\n", encoding="utf-8")
    tokenized = tokenize_corpus(read_corpus(str(path)), whitespace)
    assert tokenized.token_ids.tolist() == [5, 6, 6, 7, 7]
    assert tokenized.sentence_starts.tolist() == [0, 2, 4, 5]
    assert tokenized.document_ids.tolist() == [0, 1, 1]


def test_tokenize_corpus_without_any_token_is_an_error(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("x y\n\nz\n", encoding="utf-8")
    corpus = read_corpus(str(path))

    class NoTokens:
        def tokenize(self, texts):
            return tf.RaggedTensor.from_row_lengths(
                tf.zeros([0], tf.int32), tf.zeros([tf.shape(texts)[0]], tf.int64)
            )

    with pytest.raises(InputError, match="corpus.txt"):
        tokenize_corpus(corpus, NoTokens())


def test_pack_chunks_respects_budget_and_documents(tmp_path):
    corpus = distinct_token_corpus(tmp_path, [[3, 4, 5, 2], [20], [2, 2], [6, 6, 6]])
    first, end = pack_chunks(corpus, budget=10)
    lengths = np.diff(corpus.sentence_starts)
    chunks = list(zip(first.tolist(), end.tolist()))
    assert chunks[0] == (0, 2)  # 3 + 4 fit in 10, 3 + 4 + 5 do not
    assert first[0] == 0 and end[-1] == corpus.num_sentences
    assert np.array_equal(first[1:], end[:-1])  # consecutive, no sentence left out
    for s0, s1 in chunks:
        assert len(set(corpus.document_ids[s0:s1].tolist())) == 1
        assert lengths[s0:s1].sum() <= 10 or s1 - s0 == 1  # an over-long sentence stands alone


def test_single_segment_chunks_pack_sentences_and_cut_long_ones(tmp_path):
    corpus = distinct_token_corpus(tmp_path, [[3, 4, 5, 2], [20], [2, 2], [6, 6, 6]])
    start, stop = single_segment_chunks(corpus, budget=10)
    assert list(zip(start.tolist(), stop.tolist())) == [
        (0, 7),  # 3 + 4
        (7, 14),  # 5 + 2
        (14, 24),  # the 20-token sentence, in two pieces of 10
        (24, 34),
        (34, 38),  # 2 + 2
        (38, 44),  # 6 + 6 do not fit in 10
        (44, 50),
        (50, 56),
    ]


@pytest.fixture
def mixed_corpus(tmp_path):
    """18 documents of 1-5 sentences of 1-12 tokens, plus over-long sentences to truncate."""
    lengths = sentence_lengths(18, (1, 5), 1, 12, seed=3)
    lengths[4] = [40, 3]
    lengths[9] = [2, 35]
    return distinct_token_corpus(tmp_path, lengths)


def document_of_position(corpus: TokenizedCorpus):
    sentence = (
        np.searchsorted(corpus.sentence_starts, np.arange(len(corpus.token_ids)), "right") - 1
    )
    return corpus.document_ids[sentence]


def test_pairs_are_cls_a_sep_b_sep_with_true_or_random_continuations(mixed_corpus):
    corpus = mixed_corpus
    max_seq_length = 24
    dataset, num_chunks = pretraining_dataset(
        corpus,
        [NextSentence(1000, max_seq_length)],
        max_seq_length=max_seq_length,
        batch_size=4,
        seed=0,
    )
    assert num_chunks == len(pack_chunks(corpus, max_seq_length - 3)[0])
    documents = document_of_position(corpus)
    starts = set(corpus.sentence_starts.tolist())
    seen = {0: 0, 1: 0}
    token_splits = 0
    for example in examples(dataset, 60):
        tokens = example["token_ids"]
        assert len(tokens) <= max_seq_length
        a, b = split_pair(tokens)
        assert len(a) >= 1 and len(b) >= 1
        assert example["segment_ids"].tolist() == [0] * (len(a) + 2) + [1] * (len(b) + 1)
        a_positions, b_positions = position(a), position(b)
        # Each segment is a contiguous run of one document.
        for segment in (a_positions, b_positions):
            assert np.array_equal(segment, np.arange(segment[0], segment[0] + len(segment)))
            assert len(set(documents[segment].tolist())) == 1
        # A chunk of several sentences is split at a sentence end, and then B (true or random)
        # starts at a sentence start; a chunk of one sentence is split inside it.
        if a_positions[-1] + 1 in starts:
            assert b_positions[0] in starts
        label = int(example["next_sentence_labels"])
        seen[label] += 1
        if label == 0:
            assert b_positions[0] == a_positions[-1] + 1
            assert documents[a_positions[0]] == documents[b_positions[0]]
            token_splits += b_positions[0] not in starts
        else:
            assert documents[a_positions[0]] != documents[b_positions[0]]
    assert seen[0] > 20 and seen[1] > 20, seen
    assert token_splits > 5  # one-sentence chunks give true continuations too


def test_long_pairs_are_truncated_to_max_seq_length(mixed_corpus):
    max_seq_length = 16
    dataset, _ = pretraining_dataset(
        mixed_corpus,
        [NextSentence(1000, max_seq_length)],
        max_seq_length=max_seq_length,
        batch_size=2,
        seed=1,
    )
    lengths = [len(example["token_ids"]) for example in examples(dataset, 80)]
    assert max(lengths) == max_seq_length  # the 40- and 35-token sentences hit the limit
    assert min(lengths) >= 5


def test_random_next_rate_is_one_half_with_next_sentence(tmp_path):
    # Every document is one chunk of 3 sentences, so B could always be the true continuation.
    corpus = distinct_token_corpus(tmp_path, sentence_lengths(20, (3, 3), 2, 6, seed=5))
    dataset, num_chunks = pretraining_dataset(
        corpus, [NextSentence(1000, 32)], max_seq_length=32, batch_size=8, seed=0
    )
    assert num_chunks == 20
    labels = [int(e["next_sentence_labels"]) for e in examples(dataset, 100)]
    assert len(labels) == 800
    assert abs(np.mean(labels) - 0.5) < 0.07, np.mean(labels)


def masked_lm_only(corpus, max_seq_length, batch_size, seed=0, across_documents=False):
    vocabulary_size = len(corpus.token_ids) + len(SPECIAL_TOKENS)
    task = MaskedLM(vocabulary_size, max_seq_length, max_predictions_per_seq=5)
    return pretraining_dataset(
        corpus,
        [task],
        max_seq_length=max_seq_length,
        batch_size=batch_size,
        seed=seed,
        across_documents=across_documents,
    )


def test_masked_lm_alone_gets_packed_single_segments(mixed_corpus):
    corpus, max_seq_length = mixed_corpus, 16
    budget = max_seq_length - 2
    dataset, num_chunks = masked_lm_only(corpus, max_seq_length, batch_size=4)
    assert num_chunks == len(single_segment_chunks(corpus, budget)[0])
    documents = document_of_position(corpus)
    starts = corpus.sentence_starts
    sentence_length = dict(zip(starts[:-1].tolist(), np.diff(starts).tolist()))
    multi_sentence = 0
    for example in examples(dataset, 3 * num_chunks // 4):
        assert "next_sentence_labels" not in example
        tokens = unmasked(example)
        assert len(tokens) <= max_seq_length
        assert example["segment_ids"].tolist() == [0] * len(tokens)
        segment = position(split_single(tokens))
        assert np.array_equal(segment, np.arange(segment[0], segment[0] + len(segment)))
        assert len(set(documents[segment].tolist())) == 1  # never crosses documents
        # It starts at a sentence start or a piece boundary of an over-long sentence ...
        sentence = np.searchsorted(starts, segment[0], "right") - 1
        assert (segment[0] - starts[sentence]) % budget == 0
        # ... ends at a sentence end or a piece boundary, and the next sentence did not fit.
        stop = segment[-1] + 1
        if stop < len(corpus.token_ids) and documents[stop] == documents[segment[0]]:
            sentence = np.searchsorted(starts, stop, "right") - 1
            assert (stop - starts[sentence]) % budget == 0
            if stop in sentence_length:
                assert len(segment) + min(sentence_length[stop], budget) > budget
        multi_sentence += int(np.isin(segment[1:], starts).sum()) >= 1
    assert multi_sentence > 10  # packed: several sentences per example when they fit


def test_masked_lm_alone_sees_every_token_once_per_epoch(mixed_corpus):
    corpus, max_seq_length = mixed_corpus, 16
    # Batches of one keep the stream in example order, so the first `num_chunks` are an epoch.
    dataset, num_chunks = masked_lm_only(corpus, max_seq_length, batch_size=1, seed=4)
    stream = examples(dataset, 2 * num_chunks)
    for epoch in (stream[:num_chunks], stream[num_chunks:]):
        seen = np.concatenate([position(split_single(unmasked(e))) for e in epoch])
        # Every token exactly once, the 40- and 35-token sentences included.
        assert np.array_equal(np.sort(seen), np.arange(len(corpus.token_ids)))
    first_order = [int(position(split_single(unmasked(e)))[0]) for e in stream[:num_chunks]]
    second_order = [int(position(split_single(unmasked(e)))[0]) for e in stream[num_chunks:]]
    assert first_order != second_order  # a new order in each epoch


def test_join_documents_puts_a_separator_after_every_document_but_the_last(tmp_path):
    corpus = distinct_token_corpus(tmp_path, [[2, 3], [1], [2]])
    joined, is_separator = join_documents(corpus, SEP_ID)
    t = len(SPECIAL_TOKENS)
    assert joined.token_ids.tolist() == [
        t,
        t + 1,
        t + 2,
        t + 3,
        t + 4,
        SEP_ID,
        t + 5,
        SEP_ID,
        t + 6,
        t + 7,
    ]
    assert joined.sentence_starts.tolist() == [0, 2, 6, 8, 10]  # separators end the documents
    assert joined.document_ids.tolist() == [0, 0, 0, 0]
    assert np.flatnonzero(is_separator).tolist() == [5, 7]


def test_packing_across_documents_fills_sequences_and_keeps_every_token_once(mixed_corpus):
    corpus, max_seq_length = mixed_corpus, 16
    budget = max_seq_length - 2
    dataset, num_chunks = masked_lm_only(
        corpus, max_seq_length, batch_size=1, seed=2, across_documents=True
    )
    assert num_chunks < len(single_segment_chunks(corpus, budget)[0])  # fuller, so fewer
    documents = document_of_position(corpus)
    epoch = [unmasked(e) for e in examples(dataset, num_chunks)]
    seen, crossing = [], 0
    for tokens in epoch:
        assert len(tokens) <= max_seq_length
        assert tokens[0] == CLS_ID and tokens[-1] == SEP_ID
        inner = tokens[1:-1]
        assert len(inner) and inner[0] != SEP_ID and inner[-1] != SEP_ID  # none at the ends
        # The [SEP]s inside split the segment into runs of whole consecutive documents' text.
        runs = np.split(inner, np.flatnonzero(inner == SEP_ID))
        runs = [position(run[run != SEP_ID]) for run in runs]
        for before, after in zip(runs, runs[1:]):
            assert after[0] == before[-1] + 1  # the next document, continuing
            assert documents[after[0]] == documents[before[-1]] + 1
        for run in runs:
            assert len(set(documents[run].tolist())) == 1
            seen.append(run)
        crossing += len(runs) > 1
    assert crossing > 5
    # Every token exactly once in an epoch, the over-long sentences included.
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(len(corpus.token_ids)))


def test_packing_across_documents_refuses_sentence_pairs(mixed_corpus):
    vocabulary_size = len(mixed_corpus.token_ids) + len(SPECIAL_TOKENS)
    tasks = [MaskedLM(vocabulary_size, 16), NextSentence(vocabulary_size, 16)]
    with pytest.raises(InputError, match="next_sentence needs sentence pairs"):
        PretrainingExamples(mixed_corpus, tasks, max_seq_length=16, seed=0, across_documents=True)


def test_next_sentence_labels_are_balanced_on_one_document_per_line(tmp_path):
    # 300 documents of one sentence each (no . ! ?), some longer than a sequence, and three of a
    # single token, which cannot be split and so always get a random B.
    rng = np.random.default_rng(8)
    lengths = [[int(n)] for n in rng.integers(2, 61, 297)] + [[1], [1], [1]]
    rng.shuffle(lengths)
    corpus = distinct_token_corpus(tmp_path, lengths, one_document_per_line=True)
    assert corpus.num_documents == corpus.num_sentences == 300
    dataset, num_chunks = pretraining_dataset(
        corpus, [NextSentence(10, 32)], max_seq_length=32, batch_size=50, seed=3
    )
    assert num_chunks == 300
    documents = document_of_position(corpus)
    starts = set(corpus.sentence_starts.tolist())
    one_token = np.diff(corpus.sentence_starts) == 1
    single_tokens = set(corpus.sentence_starts[:-1][one_token].tolist())
    assert len(single_tokens) == 3
    labels = []
    for example in examples(dataset, 80):
        a, b = split_pair(example["token_ids"])
        a_positions, b_positions = position(a), position(b)
        label = int(example["next_sentence_labels"])
        labels.append(label)
        if len(a) == 1 and a_positions[0] in single_tokens:
            assert label == 1
        elif label == 0:
            # A token split: B starts right after A, inside the same one-sentence document.
            assert b_positions[0] == a_positions[-1] + 1
            assert b_positions[0] not in starts
            assert documents[a_positions[0]] == documents[b_positions[0]]
        else:
            assert documents[a_positions[0]] != documents[b_positions[0]]
            # A random B starts inside a sentence as well, so where it starts tells nothing.
            assert b_positions[0] not in starts or b_positions[0] in single_tokens
    assert len(labels) == 4000
    assert 0.45 <= np.mean(labels) <= 0.55, np.mean(labels)


def test_next_sentence_labels_are_balanced_on_the_sample_corpus_with_short_sequences():
    corpus = read_corpus(SAMPLE_CORPUS)
    config = TokenizerConfig("wordpiece")
    tokenizer = Tokenizer(learn_vocabulary(corpus.sentences, config, 2000), config)
    tokenized = tokenize_corpus(corpus, tokenizer)
    # At this length many chunks hold one sentence, which once always got a random B.
    first, end = pack_chunks(tokenized, 32 - 3)
    assert np.mean(end - first == 1) > 0.2
    dataset, _ = pretraining_dataset(
        tokenized,
        [NextSentence(tokenizer.vocabulary_size, 32)],
        max_seq_length=32,
        batch_size=100,
        seed=5,
    )
    labels = np.concatenate([batch["next_sentence_labels"].numpy() for batch in dataset.take(40)])
    assert len(labels) == 4000
    assert 0.45 <= labels.mean() <= 0.55, labels.mean()


class OtherRateTask(PretrainingTask):
    name = "other_rate"
    example_layout = ExampleLayout.pairs(0.3)


class PairsTask(PretrainingTask):
    name = "pairs"
    example_layout = ExampleLayout.pairs(0.5)


def test_layouts_combine_to_pairs_only_when_a_task_asks():
    masked_lm, next_sentence = MaskedLM(100, 16), NextSentence(100, 16)
    assert MaskedLM.example_layout == SINGLE_SEGMENT
    assert combine_layouts([masked_lm]) == SINGLE_SEGMENT
    assert combine_layouts([]) == SINGLE_SEGMENT
    assert combine_layouts([masked_lm, next_sentence]) == ExampleLayout.pairs(0.5)
    assert combine_layouts([next_sentence, PairsTask(100, 16)]) == ExampleLayout.pairs(0.5)
    with pytest.raises(ValueError):
        ExampleLayout(sentence_pairs=False, random_next_rate=0.5)
    with pytest.raises(ValueError):
        ExampleLayout.pairs(1.5)


def test_tasks_asking_for_different_pair_rates_is_an_error(mixed_corpus):
    tasks = [MaskedLM(100, 16), NextSentence(100, 16), OtherRateTask(100, 16)]
    with pytest.raises(InputError, match="next_sentence.*other_rate"):
        combine_layouts(tasks)
    with pytest.raises(InputError, match="different random-next rates"):
        pretraining_dataset(mixed_corpus, tasks, max_seq_length=16, batch_size=2, seed=0)


def test_next_sentence_needs_two_documents():
    # (A file can only hold one multi-sentence document as a TokenizedCorpus: without a blank
    # line, read_corpus takes every line for a document.)
    corpus = TokenizedCorpus(
        token_ids=np.arange(5, 17, dtype=np.int32),
        sentence_starts=np.array([0, 3, 7, 12], np.int64),
        document_ids=np.zeros(3, np.int64),
    )
    with pytest.raises(InputError, match="at least 2 documents"):
        pretraining_dataset(
            corpus,
            [MaskedLM(100, 16), NextSentence(100, 16)],
            max_seq_length=16,
            batch_size=2,
            seed=0,
        )
    # Masked LM alone is fine with one document.
    pretraining_dataset(corpus, [MaskedLM(100, 16)], max_seq_length=16, batch_size=2, seed=0)


def test_masks_differ_between_epochs(tmp_path):
    # Documents of 2 sentences that fit in one sequence, masked LM only: every chunk makes the
    # same single segment in every epoch, so only the masks can differ.
    corpus = distinct_token_corpus(tmp_path, sentence_lengths(8, (2, 2), 4, 8, seed=7))
    vocabulary_size = len(corpus.token_ids) + len(SPECIAL_TOKENS)
    dataset, num_chunks = pretraining_dataset(
        corpus,
        [MaskedLM(vocabulary_size, 20, max_predictions_per_seq=4)],
        max_seq_length=20,
        batch_size=2,
        seed=0,
    )
    masks = {}
    for example in examples(dataset, 4 * num_chunks // 2):  # about 4 epochs
        key = tuple(unmasked(example).tolist())
        masks.setdefault(key, []).append(tuple(example["token_ids"].tolist()))
    assert len(masks) == num_chunks
    repeated = [versions for versions in masks.values() if len(versions) >= 2]
    assert len(repeated) >= num_chunks - 1
    differing = sum(len(set(versions)) > 1 for versions in repeated)
    assert differing >= 0.75 * len(repeated), masks


def first_batches(corpus, seed, num_batches=4):
    """The first batches of masked pairs."""
    tf.keras.utils.set_random_seed(seed)
    tasks = [MaskedLM(400, 24, max_predictions_per_seq=4), NextSentence(400, 24)]
    dataset, _ = pretraining_dataset(corpus, tasks, max_seq_length=24, batch_size=4, seed=seed)
    return [
        {key: value.numpy() for key, value in batch.items()} for batch in dataset.take(num_batches)
    ]


def same_batches(first, second):
    return all(
        a.keys() == b.keys()
        and all(a[k].shape == b[k].shape and np.array_equal(a[k], b[k]) for k in a)
        for a, b in zip(first, second)
    )


def test_same_seed_gives_same_pairs_and_masks(mixed_corpus):
    first = first_batches(mixed_corpus, seed=11)
    for _ in range(3):  # tensorflow-text's selector runs rows in parallel: check a few times
        again = first_batches(mixed_corpus, seed=11)
        assert same_batches(first, again)
    other = first_batches(mixed_corpus, seed=12)
    assert same_batches(first, again)
    assert not same_batches(first, other)


# ---------------------------------------------------------------------------------------------
# A corpus in several shards.


def split_into_shards(corpus: TokenizedCorpus, num_shards: int) -> list[TokenizedCorpus]:
    """Cuts a corpus at document boundaries into shards of about equal numbers of documents."""
    bounds = np.searchsorted(
        corpus.document_ids, np.linspace(0, corpus.num_documents, num_shards + 1)[1:-1]
    )
    shards = []
    for first, end in zip([0, *bounds], [*bounds, corpus.num_sentences]):
        starts = corpus.sentence_starts[first : end + 1]
        documents = corpus.document_ids[first:end]
        shards.append(
            TokenizedCorpus(
                token_ids=corpus.token_ids[starts[0] : starts[-1]],
                sentence_starts=starts - starts[0],
                document_ids=documents - documents[0],
            )
        )
    return shards


def test_random_segments_come_from_another_document_of_the_same_shard(mixed_corpus):
    shards = split_into_shards(mixed_corpus, 3)
    shard_of_position = np.repeat(np.arange(3), [len(s.token_ids) for s in shards])
    documents = document_of_position(mixed_corpus)
    dataset, num_chunks = pretraining_dataset(
        shards, [NextSentence(1000, 24)], max_seq_length=24, batch_size=4, seed=0
    )
    assert num_chunks == sum(len(pack_chunks(s, 21)[0]) for s in shards)
    random_pairs = 0
    for example in examples(dataset, 60):
        a, b = (position(segment) for segment in split_pair(example["token_ids"]))
        assert shard_of_position[a[0]] == shard_of_position[b[0]]
        if example["next_sentence_labels"] == 1:
            random_pairs += 1
            assert documents[a[0]] != documents[b[0]]
    assert random_pairs > 50


@pytest.mark.parametrize("num_shards", [1, 4])
def test_input_pipelines_read_disjoint_shares_of_the_corpus(mixed_corpus, num_shards):
    """Two pipelines (workers): their own shards, or with fewer shards than pipelines, their
    own chunks of every shard; together, the whole corpus each epoch."""
    shards = split_into_shards(mixed_corpus, num_shards)
    task = MaskedLM(
        len(mixed_corpus.token_ids) + len(SPECIAL_TOKENS), 16, max_predictions_per_seq=5
    )
    stream = PretrainingExamples(shards, [task], max_seq_length=16, seed=0)
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(2, pipeline, num_replicas_in_sync=2)
        dataset = stream.dataset(2, input_context=context)  # 1 example a replica
        if num_shards == 1:  # each visit of the shard, its share of a new permutation
            count = len(range(pipeline, stream.examples_per_epoch, 2))
        else:  # its own shards; two epochs, as the next epoch's shards start before one ends
            count = 2 * sum(stream.chunks_per_shard[pipeline::2])
        epochs = examples(dataset, count)
        seen.append(np.concatenate([position(split_single(unmasked(e))) for e in epochs]))
    assert not set(seen[0].tolist()) & set(seen[1].tolist())
    assert set(np.concatenate(seen).tolist()) == set(range(len(mixed_corpus.token_ids)))


@pytest.mark.parametrize("tasks", [("masked_lm",), ("masked_lm", "next_sentence")])
def test_examples_use_the_vocabularys_special_ids(mixed_corpus, tasks):
    """With the special tokens after the corpus's ids (as Google's vocabulary has them after
    `[unused]` tokens), no example carries the learned layout's [CLS] 2 or [SEP] 3, and masking
    never selects a special token."""
    first = len(SPECIAL_TOKENS) + len(mixed_corpus.token_ids)
    moved = SpecialTokenIds(pad=0, unk=first, cls=first + 1, sep=first + 2, mask=first + 3)
    built = [
        cls(first + 4, 24, special_ids=moved)
        for cls in (MaskedLM, NextSentence)
        if cls.name in tasks
    ]
    dataset, _ = pretraining_dataset(
        mixed_corpus, built, max_seq_length=24, batch_size=8, seed=0, special_ids=moved
    )
    for example in examples(dataset, 6):
        tokens = unmasked(example)
        assert tokens[0] == moved.cls and tokens[-1] == moved.sep
        assert np.sum(tokens == moved.sep) == len(tasks)  # one [SEP] per segment
        assert not np.isin(tokens, [2, 3]).any()
        real = example["masked_lm_weights"] == 1
        assert not np.isin(example["masked_lm_ids"][real], moved.all()).any()


def test_a_workers_replicas_get_batches_of_one_static_shape_in_a_step(mixed_corpus):
    """One pipeline for two replicas (MirroredStrategy): a batch for both, split in two, so
    consecutive elements (one step) share their padded length, a bucket edge."""
    task = MaskedLM(len(mixed_corpus.token_ids) + len(SPECIAL_TOKENS), 24)
    stream = PretrainingExamples(
        mixed_corpus, [task], max_seq_length=24, seed=0, static_shapes=True
    )
    context = tf.distribute.InputContext(1, 0, num_replicas_in_sync=2)
    dataset = stream.dataset(8, input_context=context)
    assert dataset.element_spec["token_ids"].shape.as_list() == [4, None]
    shapes = [batch["token_ids"].shape for batch in dataset.take(16)]
    assert all(first == second for first, second in zip(shapes[::2], shapes[1::2]))
    assert {shape[1] for shape in shapes} <= set(static_lengths(24))
    assert len(set(shapes)) > 1  # and yet several lengths over the steps
