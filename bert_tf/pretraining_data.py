"""The pretraining input pipeline: sentence pairs, task preprocessing, bucketing, padding.

The corpus is tokenized once into one flat id array. Examples are then made in the graph from
index arithmetic on that array: no Python runs per example. Each epoch visits every chunk (a
run of whole sentences of one document that fits in a sequence) once, in a new order, and
draws new split points, new random segments and new masks.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from bert_tf.batching import batch_by_length, pad_batch
from bert_tf.corpus import Corpus
from bert_tf.errors import InputError
from bert_tf.tokenization import CLS_ID, SEP_ID, Tokenizer

_NUM_SPECIAL_IN_PAIR = 3  # [CLS] A [SEP] B [SEP]


@dataclasses.dataclass(frozen=True)
class TokenizedCorpus:
    """A corpus as one flat id array with sentence boundaries.

    Attributes:
        token_ids: np.ndarray int32 [T]. All sentences' ids, concatenated in corpus order.
        sentence_starts: np.ndarray int64 [N + 1]. Sentence i is `token_ids[starts[i]:starts[i+1]]`.
        document_ids: np.ndarray int64 [N]. Document of each sentence, 0..D-1, non-decreasing.
        num_dropped_sentences: int. Sentences with no token after tokenization (left out).
    """

    token_ids: np.ndarray
    sentence_starts: np.ndarray
    document_ids: np.ndarray
    num_dropped_sentences: int = 0

    @property
    def num_sentences(self) -> int:
        return len(self.document_ids)

    @property
    def num_documents(self) -> int:
        return int(self.document_ids[-1]) + 1 if len(self.document_ids) else 0


def tokenize_corpus(
    corpus: Corpus, tokenizer: Tokenizer, batch_size: int = 4096
) -> TokenizedCorpus:
    """Tokenizes every sentence of a corpus once, in batches, in the graph.

    Raises:
        InputError: if no sentence has any token.
    """
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(corpus.sentences, tf.string))
    dataset = dataset.batch(batch_size).map(tokenizer.tokenize).prefetch(tf.data.AUTOTUNE)
    pieces, lengths = [], []
    for ids in dataset:
        pieces.append(ids.flat_values.numpy())
        lengths.append(ids.row_lengths().numpy())
    lengths = np.concatenate(lengths)
    kept = lengths > 0
    if not kept.any():
        raise InputError(f"{corpus.path}: no sentence has any token after tokenization")
    # Renumber documents so that ones left empty disappear.
    _, document_ids = np.unique(corpus.document_ids[kept], return_inverse=True)
    return TokenizedCorpus(
        token_ids=np.concatenate(pieces).astype(np.int32),
        sentence_starts=np.concatenate([[0], np.cumsum(lengths[kept])]).astype(np.int64),
        document_ids=document_ids.astype(np.int64),
        num_dropped_sentences=int((~kept).sum()),
    )


def pack_chunks(corpus: TokenizedCorpus, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Groups consecutive sentences of each document into chunks of at most `budget` tokens.

    A sentence longer than the budget is a chunk of its own (truncated later).

    Returns:
        (first, end): np.ndarray int64 [C] each; chunk c holds sentences `first[c]:end[c]`.
    """
    lengths = np.diff(corpus.sentence_starts)
    first, end = [0], []
    used = 0
    for i in range(corpus.num_sentences):
        new_document = i > 0 and corpus.document_ids[i] != corpus.document_ids[i - 1]
        if i > 0 and (new_document or used + lengths[i] > budget):
            end.append(i)
            first.append(i)
            used = 0
        used += lengths[i]
    end.append(corpus.num_sentences)
    return np.asarray(first, np.int64), np.asarray(end, np.int64)


def make_pair_fn(corpus: TokenizedCorpus, max_seq_length: int, random_next_rate: float, seed: int):
    """Returns a graph function (example_index, chunk) -> one `[CLS] A [SEP] B [SEP]` example.

    A chunk with two or more sentences is split at a random sentence boundary into A and its
    continuation B. With probability `random_next_rate`, or when the chunk is a single
    sentence, B is instead taken from a random sentence onward of another document
    (`next_sentence_labels` = 1). The longer segment is truncated to fit: A keeps its end,
    B its start, so a true continuation stays contiguous. Randomness is stateless, keyed by
    (seed, example_index): reproducible, and new in every epoch.
    """
    budget = max_seq_length - _NUM_SPECIAL_IN_PAIR
    first, end = pack_chunks(corpus, budget)
    token_ids = tf.constant(corpus.token_ids)
    starts = tf.constant(corpus.sentence_starts)
    sentence_document = tf.constant(corpus.document_ids)
    document_first = np.searchsorted(corpus.document_ids, np.arange(corpus.num_documents))
    document_end = np.append(document_first[1:], corpus.num_sentences)
    document_first_t = tf.constant(document_first.astype(np.int64))
    document_size_t = tf.constant((document_end - document_first).astype(np.int64))
    document_token_end = tf.constant(corpus.sentence_starts[document_end])
    chunk_first, chunk_end = tf.constant(first), tf.constant(end)
    num_documents = corpus.num_documents
    budget_t = tf.constant(budget, tf.int64)

    def make_pair(example_index, chunk):
        draws = tf.random.stateless_uniform(
            [4], seed=tf.stack([tf.cast(seed, tf.int64), example_index])
        )
        s0, s1 = chunk_first[chunk], chunk_end[chunk]
        num_sentences = s1 - s0
        has_next = num_sentences >= 2
        split = (
            s0
            + 1
            + tf.cast(draws[0] * tf.cast(tf.maximum(num_sentences - 1, 1), tf.float32), tf.int64)
        )
        a_end = tf.where(has_next, tf.minimum(split, s1 - 1), s1)
        is_random = tf.logical_or(tf.logical_not(has_next), draws[1] < random_next_rate)
        if num_documents > 1:
            offset = 1 + tf.cast(draws[2] * (num_documents - 1), tf.int64)
            other = (sentence_document[s0] + tf.minimum(offset, num_documents - 1)) % num_documents
        else:
            other = sentence_document[s0]
        random_sentence = document_first_t[other] + tf.minimum(
            tf.cast(draws[3] * tf.cast(document_size_t[other], tf.float32), tf.int64),
            document_size_t[other] - 1,
        )
        a_start, a_stop = starts[s0], starts[a_end]
        b_start = tf.where(is_random, starts[random_sentence], starts[a_end])
        # A random B is cut to the length the true continuation would have had, so that
        # length does not give the label away.
        next_length = tf.where(has_next, starts[s1] - starts[a_end], budget_t)
        random_stop = tf.minimum(document_token_end[other], b_start + next_length)
        b_stop = tf.where(is_random, random_stop, starts[s1])
        length_a, length_b = a_stop - a_start, b_stop - b_start
        keep_a = tf.minimum(length_a, tf.maximum(budget_t // 2, budget_t - length_b))
        keep_b = tf.minimum(length_b, budget_t - keep_a)
        segment_a = token_ids[a_stop - keep_a : a_stop]
        segment_b = token_ids[b_start : b_start + keep_b]
        cls, sep = tf.constant([CLS_ID]), tf.constant([SEP_ID])
        return {
            "token_ids": tf.concat([cls, segment_a, sep, segment_b, sep], axis=0),
            "segment_ids": tf.concat(
                [tf.zeros([keep_a + 2], tf.int32), tf.ones([keep_b + 1], tf.int32)], axis=0
            ),
            "next_sentence_labels": tf.cast(is_random, tf.int32),
        }

    return make_pair, len(first)


def pretraining_dataset(
    corpus: TokenizedCorpus,
    tasks: list,
    *,
    max_seq_length: int,
    batch_size: int,
    seed: int,
    start_step: int = 0,
) -> tuple[tf.data.Dataset, int]:
    """The endless pretraining dataset, and how many examples make one epoch.

    Args:
        corpus: TokenizedCorpus.
        tasks: list[PretrainingTask]. Their `preprocess` runs on every ragged batch, in order.
        max_seq_length: int. Longest sequence, special tokens included.
        batch_size: int. Global batch size.
        seed: int. Seeds the order, the pairs and (with TF's global seed) the masks.
        start_step: int. The step a resumed run starts at: the stream then continues with new
            example numbers and a new order instead of replaying the first steps' data.

    Returns:
        (dataset of dense feature dicts [B, S] / [B, P] / [B], examples per epoch).

    Raises:
        InputError: if a task needs random segments but the corpus has a single document.
    """
    random_next_rate = max((task.random_next_rate for task in tasks), default=0.0)
    if random_next_rate > 0 and corpus.num_documents < 2:
        raise InputError(
            "next-sentence prediction needs at least 2 documents (separate documents by a blank "
            "line, or put one document per line), or leave next_sentence out of --tasks"
        )
    make_pair, num_chunks = make_pair_fn(corpus, max_seq_length, random_next_rate, seed)

    def preprocess(batch):
        for task in tasks:
            batch = task.preprocess(batch)
        return pad_batch(batch)

    dataset = (
        tf.data.Dataset.range(num_chunks)
        .shuffle(num_chunks, seed=seed + start_step, reshuffle_each_iteration=True)
        .repeat()
        .enumerate(start=start_step * batch_size)
        .map(make_pair, num_parallel_calls=tf.data.AUTOTUNE)
        .apply(lambda examples: batch_by_length(examples, batch_size, max_seq_length))
        # Sequential: masking draws from TF's stateful RNG, so parallel calls would make the
        # masks depend on thread timing and break --seed reproducibility.
        .map(preprocess)
        .prefetch(tf.data.AUTOTUNE)
    )
    return dataset, num_chunks
