"""The pretraining input pipeline: examples, task preprocessing, bucketing, padding.

The corpus is tokenized once into flat id arrays, one per shard (a whole small corpus is one
shard). Examples are then made in the graph from index arithmetic on a shard's arrays: Python
runs once per shard, never per example. Each epoch visits every chunk (a run of whole sentences
of one document that fits in a sequence) once, in a new order, and draws new split points, new
random segments and new masks. A few shards are read at a time, so memory does not grow with
the corpus.

How examples are cut depends on the tasks (`ExampleLayout`): single segments `[CLS] A [SEP]`
packed from consecutive sentences, or sentence pairs `[CLS] A [SEP] B [SEP]` with a share of
random segments B, built only when some task (e.g. next-sentence prediction) asks for them.
Single segments stay in one document unless `across_documents` lets them run on into the next
ones, with a [SEP] between documents (RoBERTa's "full sentences").
"""

import bisect
import dataclasses
import functools

import numpy as np
import tensorflow as tf

from bert_tf.batching import batch_by_length, pad_batch, static_lengths
from bert_tf.corpus import Corpus
from bert_tf.errors import InputError
from bert_tf.segment_pairs import kept_pair_lengths
from bert_tf.tokenization import SpecialTokenIds, Tokenizer

_NUM_SPECIAL_IN_SINGLE = 2  # [CLS] A [SEP]
_NUM_SPECIAL_IN_PAIR = 3  # [CLS] A [SEP] B [SEP]
#: Shards whose examples are interleaved at a time: what bounds the pipeline's memory.
SHARDS_IN_MEMORY = 4
# Example numbers are visit * stride + position in the visit: unique below 2**32 chunks a shard.
_VISIT_STRIDE = 2**32


@dataclasses.dataclass(frozen=True)
class ExampleLayout:
    """How the pipeline cuts the corpus into examples; each task declares the one it needs.

    Attributes:
        sentence_pairs: bool. False: one segment `[CLS] A [SEP]` packed with as many whole
            sentences as fit. True: `[CLS] A [SEP] B [SEP]` with `next_sentence_labels`.
        random_next_rate: float. In the pair layout, the share of examples whose segment B
            comes from another document (label 1) instead of continuing A (label 0).
    """

    sentence_pairs: bool = False
    random_next_rate: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.random_next_rate <= 1.0:
            raise ValueError(f"random_next_rate={self.random_next_rate}: expected 0 to 1")
        if self.random_next_rate and not self.sentence_pairs:
            raise ValueError("a random_next_rate needs the sentence-pair layout")

    @classmethod
    def pairs(cls, random_next_rate: float) -> "ExampleLayout":
        """The sentence-pair layout with this share of random segments B."""
        return cls(sentence_pairs=True, random_next_rate=random_next_rate)


#: One segment per example: what a task needs unless it compares two segments.
SINGLE_SEGMENT = ExampleLayout()


def combine_layouts(tasks: list) -> ExampleLayout:
    """The one layout that serves all tasks: single segments unless some task asks for pairs.

    A task that needs no pairs trains on pairs just as well, so pairs win; but one random-next
    rate cannot serve two tasks asking for different ones.

    Raises:
        InputError: if tasks ask for sentence pairs with different random-next rates.
    """
    asking = {
        task.name: task.example_layout for task in tasks if task.example_layout.sentence_pairs
    }
    if len({layout.random_next_rate for layout in asking.values()}) > 1:
        wishes = ", ".join(
            f"{name} ({layout.random_next_rate:g})" for name, layout in asking.items()
        )
        raise InputError(
            f"pretraining tasks ask for sentence pairs with different random-next rates: {wishes}; "
            "use them in separate runs"
        )
    return next(iter(asking.values()), SINGLE_SEGMENT)


def check_across_documents(tasks: list) -> None:
    """Raises InputError if a task needs sentence pairs, which packing across documents (one
    segment running over several documents) cannot give."""
    names = [task.name for task in tasks if task.example_layout.sentence_pairs]
    if names:
        raise InputError(
            f"--pack_across_documents packs single segments, but {', '.join(names)} needs "
            "sentence pairs; leave one of them out"
        )


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


def _greedy_pack(
    lengths: np.ndarray, groups: np.ndarray, budget: int
) -> tuple[np.ndarray, np.ndarray]:
    """Groups consecutive units into runs of at most `budget` tokens that stay in one group.

    Greedy: each run takes as many units as fit (at least one). The loop runs once per run,
    not per unit.

    Args:
        lengths: np.ndarray int [U]. Tokens in each unit.
        groups: np.ndarray int [U]. Non-decreasing group (document) of each unit.
        budget: int. Most tokens in a run (a single longer unit is a run of its own).

    Returns:
        (first, end): np.ndarray int64 [R] each; run r holds units `first[r]:end[r]`.
    """
    num_units = len(lengths)
    cumulative = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).tolist()
    group_starts = np.flatnonzero(np.diff(groups)) + 1
    group_ends = np.append(group_starts, num_units)
    group_end = group_ends[np.searchsorted(group_starts, np.arange(num_units), "right")].tolist()
    first, end = [], []
    unit = 0
    while unit < num_units:
        fits = bisect.bisect_right(cumulative, cumulative[unit] + budget) - 1
        first.append(unit)
        unit = min(max(fits, unit + 1), group_end[unit])
        end.append(unit)
    return np.asarray(first, np.int64), np.asarray(end, np.int64)


def pack_chunks(corpus: TokenizedCorpus, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Groups consecutive sentences of each document into chunks of at most `budget` tokens.

    A sentence longer than the budget is a chunk of its own (truncated later).

    Returns:
        (first, end): np.ndarray int64 [C] each; chunk c holds sentences `first[c]:end[c]`.
    """
    return _greedy_pack(np.diff(corpus.sentence_starts), corpus.document_ids, budget)


def single_segment_chunks(corpus: TokenizedCorpus, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ranges of packed single segments: consecutive whole sentences of one document.

    A sentence longer than the budget is first cut into pieces of `budget` tokens (the last
    one shorter), which are then packed like sentences, so every token is in exactly one chunk.

    Returns:
        (start, stop): np.ndarray int64 [C] each; chunk c is `token_ids[start[c]:stop[c]]`.
    """
    starts = corpus.sentence_starts
    lengths = np.diff(starts)
    num_pieces = np.maximum(1, -(-lengths // budget))
    piece_sentence = np.repeat(np.arange(corpus.num_sentences), num_pieces)
    piece_of_sentence = np.arange(len(piece_sentence)) - np.repeat(
        np.cumsum(num_pieces) - num_pieces, num_pieces
    )
    piece_start = starts[piece_sentence] + piece_of_sentence * budget
    piece_stop = np.minimum(piece_start + budget, starts[piece_sentence + 1])
    first, end = _greedy_pack(piece_stop - piece_start, corpus.document_ids[piece_sentence], budget)
    return piece_start[first].astype(np.int64), piece_stop[end - 1].astype(np.int64)


def join_documents(
    corpus: TokenizedCorpus, separator_id: int
) -> tuple[TokenizedCorpus, np.ndarray]:
    """The corpus as a single document: `separator_id` ends every document but the last, as
    the last token of its last sentence.

    Returns:
        (the joined TokenizedCorpus, np.ndarray bool [T'] marking the separators).
    """
    starts = corpus.sentence_starts
    last_sentences = np.flatnonzero(np.diff(corpus.document_ids))  # of every document but the last
    ends = starts[last_sentences + 1]
    token_ids = np.insert(corpus.token_ids, ends, np.int32(separator_id))
    shift = np.searchsorted(last_sentences, np.arange(len(starts)), "left")
    is_separator = np.zeros(len(token_ids), bool)
    is_separator[ends + np.arange(len(ends))] = True
    joined = dataclasses.replace(
        corpus,
        token_ids=token_ids,
        sentence_starts=(starts + shift).astype(np.int64),
        document_ids=np.zeros_like(corpus.document_ids),
    )
    return joined, is_separator


def single_segment_tables(
    corpus: TokenizedCorpus, max_seq_length: int, separator_id: int | None = None
) -> dict:
    """What `make_single_segment` reads of one corpus (or shard), computed once with NumPy.

    Chunk c is the c-th run of `single_segment_chunks`: as many consecutive whole sentences of
    one document as fit in `max_seq_length`: sequences come nearly full, and no token is dropped.
    With `separator_id`, a chunk may run on into the next documents, with that token between
    two documents (never at a chunk's ends): full sequences even when documents are short.

    Returns:
        dict of np.ndarray: `token_ids` int32 [T]; `chunk_start`, `chunk_stop` int64 [C].
    """
    budget = max_seq_length - _NUM_SPECIAL_IN_SINGLE
    if separator_id is None:
        start, stop = single_segment_chunks(corpus, budget)
        return {"token_ids": corpus.token_ids, "chunk_start": start, "chunk_stop": stop}
    joined, is_separator = join_documents(corpus, separator_id)
    start, stop = single_segment_chunks(joined, budget)
    stop = stop - is_separator[stop - 1]
    start = start + is_separator[start]
    kept = stop > start  # a piece that was a lone separator
    return {"token_ids": joined.token_ids, "chunk_start": start[kept], "chunk_stop": stop[kept]}


def make_single_segment_fn(special_ids: SpecialTokenIds = SpecialTokenIds()):
    """Returns a graph function (tables, example_index, chunk) -> one `[CLS] A [SEP]` example
    from chunk `chunk` of `single_segment_tables` (as tensors). `special_ids` are the
    vocabulary's (`Tokenizer.special_ids`)."""

    def make_single_segment(tables, example_index, chunk):
        del example_index  # a packed segment has nothing random to draw
        segment = tables["token_ids"][tables["chunk_start"][chunk] : tables["chunk_stop"][chunk]]
        cls, sep = tf.constant([special_ids.cls]), tf.constant([special_ids.sep])
        tokens = tf.concat([cls, segment, sep], axis=0)
        return {"token_ids": tokens, "segment_ids": tf.zeros_like(tokens)}

    return make_single_segment


def _uniform_index(draw, low, count):
    """`low + k` for k uniform in 0..count-1 from a draw in [0, 1); `low` when count < 1."""
    low, count = tf.cast(low, tf.int64), tf.maximum(tf.cast(count, tf.int64), 1)
    return low + tf.minimum(tf.cast(draw * tf.cast(count, tf.float32), tf.int64), count - 1)


def pair_tables(corpus: TokenizedCorpus, max_seq_length: int) -> dict:
    """What the function of `make_pair_fn` reads of one corpus (or shard), computed once with
    NumPy: the tokens, sentence and document boundaries, and the chunks of `pack_chunks`.

    Returns:
        dict of np.ndarray: `token_ids` int32 [T]; int64 `sentence_starts` [N + 1],
        `sentence_document` [N], `document_first`, `document_size`, `document_token_end` [D],
        `chunk_first`, `chunk_end` [C].
    """
    first, end = pack_chunks(corpus, max_seq_length - _NUM_SPECIAL_IN_PAIR)
    document_first = np.searchsorted(corpus.document_ids, np.arange(corpus.num_documents))
    document_end = np.append(document_first[1:], corpus.num_sentences)
    return {
        "token_ids": corpus.token_ids,
        "sentence_starts": corpus.sentence_starts,
        "sentence_document": corpus.document_ids,
        "document_first": document_first.astype(np.int64),
        "document_size": (document_end - document_first).astype(np.int64),
        "document_token_end": corpus.sentence_starts[document_end],
        "chunk_first": first,
        "chunk_end": end,
    }


def make_pair_fn(
    max_seq_length: int,
    random_next_rate: float,
    seed: int,
    special_ids: SpecialTokenIds = SpecialTokenIds(),
):
    """Returns a graph function (tables, example_index, chunk) -> one `[CLS] A [SEP] B [SEP]`
    example, where `tables` are the `pair_tables` of a corpus or shard, as tensors.

    A chunk with two or more sentences is split at a random sentence boundary into A and its
    continuation B; a chunk of one sentence is split at a random token boundary inside it, so
    every chunk but a single token has a true continuation and the labels keep the asked rate
    on any corpus. With probability `random_next_rate` (always, for a single token), B is
    instead taken from another document of the same tables (`next_sentence_labels` = 1),
    starting where the true B would: at a sentence start after a sentence split, inside a
    sentence after a token split. (Tables of a single document can only offer that document.)
    A random B is cut to the length the true continuation would have had, so neither where B
    starts nor its length gives the label away. The longer segment is truncated to fit: A keeps
    its end, B its start, so a true continuation stays contiguous. Randomness is stateless,
    keyed by (seed, example_index): reproducible, and new in every epoch. `special_ids` are the
    vocabulary's (`Tokenizer.special_ids`).
    """
    budget_t = tf.constant(max_seq_length - _NUM_SPECIAL_IN_PAIR, tf.int64)

    def make_pair(tables, example_index, chunk):
        token_ids, starts = tables["token_ids"], tables["sentence_starts"]
        num_documents = tf.size(tables["document_first"], out_type=tf.int64)
        draws = tf.random.stateless_uniform(
            [5], seed=tf.stack([tf.cast(seed, tf.int64), example_index])
        )
        s0, s1 = tables["chunk_first"][chunk], tables["chunk_end"][chunk]
        chunk_start, chunk_stop = starts[s0], starts[s1]
        num_sentences, num_tokens = s1 - s0, chunk_stop - chunk_start
        at_sentence = num_sentences >= 2
        has_next = num_tokens >= 2
        at_token = tf.logical_and(has_next, tf.logical_not(at_sentence))
        sentence_split = starts[_uniform_index(draws[0], s0 + 1, num_sentences - 1)]
        token_split = _uniform_index(draws[0], chunk_start + 1, num_tokens - 1)
        a_stop = tf.where(at_sentence, sentence_split, tf.where(has_next, token_split, chunk_stop))
        is_random = tf.logical_or(tf.logical_not(has_next), draws[1] < random_next_rate)
        # Another document (the same one when the tables hold only one).
        offset = _uniform_index(draws[2], 1, num_documents - 1)
        other = (tables["sentence_document"][s0] + offset) % num_documents
        random_sentence = _uniform_index(
            draws[3], tables["document_first"][other], tables["document_size"][other]
        )
        sentence_start, sentence_stop = starts[random_sentence], starts[random_sentence + 1]
        inside = _uniform_index(draws[4], sentence_start + 1, sentence_stop - sentence_start - 1)
        random_start = tf.where(
            tf.logical_and(at_token, sentence_stop - sentence_start >= 2), inside, sentence_start
        )
        b_start = tf.where(is_random, random_start, a_stop)
        # A random B is cut to the length the true continuation would have had, so that
        # length does not give the label away.
        next_length = tf.where(has_next, chunk_stop - a_stop, budget_t)
        random_stop = tf.minimum(tables["document_token_end"][other], b_start + next_length)
        b_stop = tf.where(is_random, random_stop, chunk_stop)
        length_a, length_b = a_stop - chunk_start, b_stop - b_start
        keep_a, keep_b = kept_pair_lengths(length_a, length_b, budget_t)
        segment_a = token_ids[a_stop - keep_a : a_stop]
        segment_b = token_ids[b_start : b_start + keep_b]
        cls, sep = tf.constant([special_ids.cls]), tf.constant([special_ids.sep])
        return {
            "token_ids": tf.concat([cls, segment_a, sep, segment_b, sep], axis=0),
            "segment_ids": tf.concat(
                [tf.zeros([keep_a + 2], tf.int32), tf.ones([keep_b + 1], tf.int32)], axis=0
            ),
            "next_sentence_labels": tf.cast(is_random, tf.int32),
        }

    return make_pair


class PretrainingExamples:
    """The examples the tasks need, cut from a corpus one shard at a time.

    The examples have the layout the tasks need (`combine_layouts`): sentence pairs with
    `next_sentence_labels` if some task asks for them, else packed single segments. A corpus in
    shards (`corpus_shards.ShardedCorpus`) is streamed: a few shards are in memory at a time,
    their examples interleaved, and a random segment B comes from another document of the same
    shard. Building this reads every shard once, to count the examples of an epoch.

    Args:
        shards: TokenizedCorpus, or a sequence of them (indexing may load a shard from disk).
        tasks: list[PretrainingTask]. Their `preprocess` runs on every ragged batch, in order.
        max_seq_length: int. Longest sequence, special tokens included.
        seed: int. Seeds the order, the pairs and (with TF's global seed) the masks.
        special_ids: SpecialTokenIds. The vocabulary's: [CLS], [SEP] and the padding.
        static_shapes: bool. Full batches padded to one of `batching.static_lengths`, so an
            accelerator compiles a bounded set of programs (`--static_shapes`).
        across_documents: bool. Single segments run on into the next documents, separated by
            [SEP], so sequences come full on a corpus of short documents
            (`--pack_across_documents`).

    Attributes:
        examples_per_epoch: int. Chunks in all shards; each is one example per epoch.

    Raises:
        InputError: if tasks ask for different pair layouts, a task needs random segments
            but the corpus has a single document, or `across_documents` with sentence pairs.
    """

    def __init__(
        self,
        shards,
        tasks,
        *,
        max_seq_length: int,
        seed: int,
        special_ids: SpecialTokenIds = SpecialTokenIds(),
        static_shapes: bool = False,
        across_documents: bool = False,
    ):
        self.shards = [shards] if isinstance(shards, TokenizedCorpus) else shards
        self.tasks = list(tasks)
        self.max_seq_length = max_seq_length
        self.seed = seed
        self.special_ids = special_ids
        self.static_shapes = static_shapes
        layout = combine_layouts(self.tasks)
        if across_documents:
            check_across_documents(self.tasks)
        if layout.sentence_pairs:
            self._tables = functools.partial(pair_tables, max_seq_length=max_seq_length)
            self._make_example = make_pair_fn(
                max_seq_length, layout.random_next_rate, seed, special_ids
            )
        else:
            self._tables = functools.partial(
                single_segment_tables,
                max_seq_length=max_seq_length,
                separator_id=special_ids.sep if across_documents else None,
            )
            self._make_example = make_single_segment_fn(special_ids)
        # A corpus of one shard is loaded and packed once, not in every epoch.
        self._shard = functools.lru_cache(maxsize=1)(lambda index: self.shards[index])
        self._load_tables = functools.lru_cache(maxsize=1)(
            lambda index: self._tables(self._shard(index))
        )
        self.chunks_per_shard, num_documents = [], 0
        for index in range(len(self.shards)):
            tables = self._load_tables(index)
            self.chunks_per_shard.append(len(_chunks(tables)))
            num_documents += self._shard(index).num_documents
        self._table_types = [tf.as_dtype(array.dtype) for array in tables.values()]
        self._table_keys = list(tables)
        self.examples_per_epoch = int(sum(self.chunks_per_shard))
        if layout.random_next_rate > 0 and num_documents < 2:
            names = [task.name for task in self.tasks if task.example_layout.random_next_rate > 0]
            raise InputError(
                f"{', '.join(names)} needs segments from other documents, so at least 2 "
                "documents (separate documents by a blank line, or put one document per "
                f"line), or leave {', '.join(names)} out of --tasks"
            )

    def _shard_tables(self, shard_index) -> dict:
        """The tables of one shard as tensors (one Python call per shard, none per example)."""
        values = tf.numpy_function(
            lambda index: tuple(self._load_tables(int(index)).values()),
            [shard_index],
            self._table_types,
        )
        for value in values:
            value.set_shape([None])
        return dict(zip(self._table_keys, values))

    def dataset(self, batch_size: int, *, start_step: int = 0, input_context=None):
        """The endless dataset of dense feature dicts [B, S] / [B, P] / [B].

        Args:
            batch_size: int. Global batch size.
            start_step: int. The step a resumed run starts at: the stream then continues with
                new example numbers and a new order instead of replaying the first steps' data.
            input_context: tf.distribute.InputContext or None. With several input pipelines
                (one per worker), each reads its own shards (or, with fewer shards than
                pipelines, its own share of every shard's chunks). A pipeline makes one batch
                for all of its worker's replicas and then splits it into batches of the
                per-replica size, which its replicas take in turn: so the replicas of a worker
                get batches of one shape in each step (with `static_shapes`, a step is one
                program, not one per combination of the replicas' shapes).
        """
        pipelines, pipeline, local_replicas = 1, 0, 1
        if input_context is not None:
            pipelines, pipeline = input_context.num_input_pipelines, input_context.input_pipeline_id
            local_replicas = input_context.num_replicas_in_sync // pipelines
            batch_size = input_context.get_per_replica_batch_size(batch_size)
        shard_ids = list(range(len(self.shards)))
        by_shard = len(shard_ids) >= pipelines
        if by_shard:
            shard_ids = shard_ids[pipeline::pipelines]
        chunk_share = (1, 0) if by_shard else (pipelines, pipeline)

        def shard_examples(visit, shard_index):
            tables = self._shard_tables(shard_index)
            chunks = tf.random.experimental.stateless_shuffle(
                tf.range(tf.size(_chunks(tables), out_type=tf.int64)),
                seed=tf.stack([tf.constant(self.seed, tf.int64), visit]),
            )[chunk_share[1] :: chunk_share[0]]
            return (
                tf.data.Dataset.from_tensor_slices(chunks)
                .enumerate()
                .map(
                    lambda position, chunk: self._make_example(
                        tables, visit * _VISIT_STRIDE + position, chunk
                    ),
                    num_parallel_calls=tf.data.AUTOTUNE,
                )
            )

        lengths = static_lengths(self.max_seq_length) if self.static_shapes else None

        def preprocess(batch):
            for task in self.tasks:
                batch = task.preprocess(batch)
            return pad_batch(batch, self.special_ids.pad, lengths)

        examples = (
            tf.data.Dataset.from_tensor_slices(tf.constant(shard_ids, tf.int64))
            .shuffle(len(shard_ids), seed=self.seed + start_step, reshuffle_each_iteration=True)
            .repeat()
            .enumerate(start=start_step * batch_size)
            .interleave(
                shard_examples,
                cycle_length=min(SHARDS_IN_MEMORY, len(shard_ids)),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
        )
        batches = (
            batch_by_length(
                examples, batch_size * local_replicas, self.max_seq_length, self.static_shapes
            )
            # Sequential: masking draws from TF's stateful RNG, so parallel calls would make the
            # masks depend on thread timing and break --seed reproducibility.
            .map(preprocess)
        )
        if local_replicas > 1:
            batches = batches.rebatch(batch_size, drop_remainder=self.static_shapes)
        return batches.prefetch(tf.data.AUTOTUNE)


def _chunks(tables):
    """The first per-chunk table (`chunk_start` or `chunk_first`): one entry per chunk."""
    return tables["chunk_start"] if "chunk_start" in tables else tables["chunk_first"]


def pretraining_dataset(
    corpus,
    tasks: list,
    *,
    max_seq_length: int,
    batch_size: int,
    seed: int,
    start_step: int = 0,
    special_ids: SpecialTokenIds = SpecialTokenIds(),
    across_documents: bool = False,
) -> tuple[tf.data.Dataset, int]:
    """The endless pretraining dataset of `PretrainingExamples`, and how many examples make one
    epoch.

    Args:
        corpus: TokenizedCorpus, or a sequence of them (shards).
        tasks, max_seq_length, seed, special_ids, across_documents: see `PretrainingExamples`.
        batch_size, start_step: see `PretrainingExamples.dataset`.

    Returns:
        (dataset of dense feature dicts [B, S] / [B, P] / [B], examples per epoch).

    Raises:
        InputError: see `PretrainingExamples`.
    """
    examples = PretrainingExamples(
        corpus,
        tasks,
        max_seq_length=max_seq_length,
        seed=seed,
        special_ids=special_ids,
        across_documents=across_documents,
    )
    return examples.dataset(batch_size, start_step=start_step), examples.examples_per_epoch
