"""Input pipelines for labeled text: `[CLS] text [SEP]` or `[CLS] A [SEP] B [SEP]`, the labels
(multi-hot, or one-hot for single-label), padded batches."""

import numpy as np
import tensorflow as tf

from bert_tf.batching import batch_by_length, pad_batch, static_lengths
from bert_tf.segment_pairs import kept_pair_lengths
from bert_tf.tokenization import Tokenizer

_CHUNK = 2048  # texts tokenized per call


def encode_batch(texts: tf.Tensor, tokenizer: Tokenizer, max_seq_length: int) -> tf.RaggedTensor:
    """Tokenizes raw strings into `[CLS] tokens [SEP]`, truncated to `max_seq_length`, in the
    graph: the one encoding of fine-tuning, prediction and the exported model.

    Args:
        texts: tf.Tensor string [N]. Raw text.
        tokenizer: Tokenizer.
        max_seq_length: int. The longest result, [CLS]/[SEP] included.

    Returns:
        tf.RaggedTensor int32 [N, None].
    """
    ids = tokenizer.tokenize(texts)[:, : max_seq_length - 2]
    rows = ids.nrows()
    return tf.concat(
        [
            tf.fill([rows, 1], tokenizer.special_ids.cls),
            ids,
            tf.fill([rows, 1], tokenizer.special_ids.sep),
        ],
        axis=1,
    )


def encode_pair_batch(
    first_texts: tf.Tensor, second_texts: tf.Tensor, tokenizer: Tokenizer, max_seq_length: int
) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
    """Tokenizes raw string pairs into `[CLS] A [SEP] B [SEP]` with segment ids 0 then 1, in the
    graph: the pair encoding of fine-tuning, prediction and the exported model.

    A pair that does not fit is cut as in pretraining (`segment_pairs.kept_pair_lengths`: the
    longer segment first), A keeping its last tokens and B its first, as a pretraining pair
    keeps them.

    Args:
        first_texts: tf.Tensor string [N]. The A texts.
        second_texts: tf.Tensor string [N]. The B texts.
        tokenizer: Tokenizer.
        max_seq_length: int. At least 3.

    Returns:
        (token_ids, segment_ids): tf.RaggedTensor int32 [N, None] each.
    """
    a, b = tokenizer.tokenize(first_texts), tokenizer.tokenize(second_texts)
    length_a, length_b = a.row_lengths(), b.row_lengths()
    budget = tf.constant(max_seq_length - 3, tf.int64)
    keep_a, keep_b = kept_pair_lengths(length_a, length_b, budget)
    a = tf.gather(a, tf.ragged.range(length_a - keep_a, length_a), batch_dims=1)
    b = tf.gather(b, tf.ragged.range(keep_b), batch_dims=1)
    rows = a.nrows()
    cls = tf.fill([rows, 1], tokenizer.special_ids.cls)
    sep = tf.fill([rows, 1], tokenizer.special_ids.sep)
    token_ids = tf.concat([cls, a, sep, b, sep], axis=1)
    positions = tf.ragged.range(keep_a + keep_b + 3)
    segment_ids = tf.cast(positions >= (keep_a + 2)[:, None], tf.int32)
    return token_ids, segment_ids


def encode_texts(texts: list[str], tokenizer: Tokenizer, max_seq_length: int) -> tf.RaggedTensor:
    """`encode_batch` over a Python list, 2,048 texts at a time.

    Returns:
        tf.RaggedTensor int32 [N, None].
    """
    pieces = [
        encode_batch(
            tf.constant(texts[start : start + _CHUNK], tf.string), tokenizer, max_seq_length
        )
        for start in range(0, len(texts), _CHUNK)
    ]
    return tf.concat(pieces, axis=0)


def encode_text_pairs(
    first_texts: list[str], second_texts: list[str], tokenizer: Tokenizer, max_seq_length: int
) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
    """`encode_pair_batch` over Python lists, 2,048 pairs at a time.

    Returns:
        (token_ids, segment_ids): tf.RaggedTensor int32 [N, None] each.
    """
    pieces = [
        encode_pair_batch(
            tf.constant(first_texts[start : start + _CHUNK], tf.string),
            tf.constant(second_texts[start : start + _CHUNK], tf.string),
            tokenizer,
            max_seq_length,
        )
        for start in range(0, len(first_texts), _CHUNK)
    ]
    return (
        tf.concat([tokens for tokens, _ in pieces], axis=0),
        tf.concat([segments for _, segments in pieces], axis=0),
    )


def encode_inputs(
    texts: list[str], tokenizer: Tokenizer, max_seq_length: int, second_texts=None
) -> tuple[tf.RaggedTensor, tf.RaggedTensor | None]:
    """`encode_text_pairs` when `second_texts` (list[str]) is given, else `encode_texts` with no
    segment ids: the `token_ids` and `segment_ids` arguments of `classification_dataset`."""
    if second_texts is None:
        return encode_texts(texts, tokenizer, max_seq_length), None
    return encode_text_pairs(texts, second_texts, tokenizer, max_seq_length)


def count_truncated(
    texts: list[str], tokenizer: Tokenizer, max_seq_length: int, second_texts=None
) -> int:
    """How many examples `encode_inputs` cuts: more tokens than `max_seq_length` holds beside
    [CLS] and [SEP] (a pair: beside three specials)."""
    budget = max_seq_length - (2 if second_texts is None else 3)
    cut = 0
    for start in range(0, len(texts), _CHUNK):
        lengths = tokenizer.tokenize(tf.constant(texts[start : start + _CHUNK])).row_lengths()
        if second_texts is not None:
            second = tf.constant(second_texts[start : start + _CHUNK])
            lengths += tokenizer.tokenize(second).row_lengths()
        cut += int(tf.reduce_sum(tf.cast(lengths > budget, tf.int32)))
    return cut


def single_segment_features(token_ids: tf.RaggedTensor, pad_id: int = 0) -> dict:
    """The backbone inputs of a batch of single-segment examples: `token_ids`, `segment_ids`
    (all 0) and `padding_mask`, dense [B, S], padded with `pad_id` to the batch's longest."""
    return pad_batch({"token_ids": token_ids, "segment_ids": tf.zeros_like(token_ids)}, pad_id)


def pair_features(token_ids: tf.RaggedTensor, segment_ids: tf.RaggedTensor, pad_id: int = 0):
    """The backbone inputs of a batch of pairs (from `encode_pair_batch`): `token_ids`,
    `segment_ids` and `padding_mask`, dense [B, S], padded with `pad_id`."""
    return pad_batch({"token_ids": token_ids, "segment_ids": segment_ids}, pad_id)


def classification_dataset(
    token_ids: tf.RaggedTensor,
    labels: np.ndarray,
    *,
    batch_size: int,
    max_seq_length: int,
    training: bool,
    seed: int = 0,
    pad_id: int = 0,
    segment_ids: tf.RaggedTensor | None = None,
    static_shapes: bool = False,
) -> tf.data.Dataset:
    """Batches of dense features and labels.

    Training: endless, reshuffled every epoch, batched by similar length. Evaluation: one pass
    in the original order (predictions line up with the file).

    Args:
        token_ids: tf.RaggedTensor int32 [N, None]. From `encode_texts`.
        labels: np.ndarray float32 [N, L]. Multi-hot (one-hot for single-label).
        batch_size: int. Global batch size.
        max_seq_length: int. For the length buckets.
        training: bool.
        seed: int. Shuffling seed.
        pad_id: int. The vocabulary's `[PAD]` id.
        segment_ids: tf.RaggedTensor int32 [N, None] or None. From `encode_text_pairs`; None
            for single texts (all segment 0).
        static_shapes: bool. Training batches full and padded to one of
            `batching.static_lengths` (`--static_shapes`); evaluation batches are left as they
            are, as evaluation runs outside the compiled training step.

    Returns:
        tf.data.Dataset of dicts: `token_ids`, `segment_ids`, `padding_mask` [B, S], `labels`
        [B, L].
    """
    features = {"token_ids": token_ids, "labels": tf.constant(labels, tf.float32)}
    if segment_ids is not None:
        features["segment_ids"] = segment_ids
    dataset = tf.data.Dataset.from_tensor_slices(features)
    if segment_ids is None:
        dataset = dataset.map(
            lambda example: dict(example, segment_ids=tf.zeros_like(example["token_ids"]))
        )
    lengths = None
    if training:
        dataset = batch_by_length(
            dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True).repeat(),
            batch_size,
            max_seq_length,
            drop_remainder=static_shapes,
        )
        lengths = static_lengths(max_seq_length) if static_shapes else None
    else:
        dataset = dataset.ragged_batch(batch_size)
    return dataset.map(lambda batch: pad_batch(batch, pad_id, lengths)).prefetch(tf.data.AUTOTUNE)
