"""Input pipelines for labeled text: `[CLS] text [SEP]` or `[CLS] A [SEP] B [SEP]`, the labels
(multi-hot, or one-hot for single-label), padded batches."""

import numpy as np
import tensorflow as tf

from bert_tf.batching import batch_by_length, pad_batch
from bert_tf.segment_pairs import kept_pair_lengths
from bert_tf.tokenization import CLS_ID, SEP_ID, Tokenizer

_CHUNK = 2048  # texts tokenized per call


def encode_texts(texts: list[str], tokenizer: Tokenizer, max_seq_length: int) -> tf.RaggedTensor:
    """Tokenizes texts into `[CLS] tokens [SEP]`, truncated to `max_seq_length`.

    Returns:
        tf.RaggedTensor int32 [N, None].
    """
    pieces = []
    for start in range(0, len(texts), _CHUNK):
        ids = tokenizer.tokenize(tf.constant(texts[start : start + _CHUNK], tf.string))
        ids = ids[:, : max_seq_length - 2]
        rows = ids.nrows()
        cls = tf.fill([rows, 1], CLS_ID)
        sep = tf.fill([rows, 1], SEP_ID)
        pieces.append(tf.concat([cls, ids, sep], axis=1))
    return tf.concat(pieces, axis=0)


def encode_text_pairs(
    first_texts: list[str], second_texts: list[str], tokenizer: Tokenizer, max_seq_length: int
) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
    """Tokenizes text pairs into `[CLS] A [SEP] B [SEP]` with segment ids 0 then 1.

    A pair that does not fit is cut as in pretraining (`segment_pairs.kept_pair_lengths`: the
    longer segment first), A keeping its last tokens and B its first, as a pretraining pair
    keeps them.

    Args:
        first_texts: list[str]. The A texts.
        second_texts: list[str]. The B texts, as many.
        tokenizer: Tokenizer.
        max_seq_length: int. At least 3.

    Returns:
        (token_ids, segment_ids): tf.RaggedTensor int32 [N, None] each.
    """
    token_pieces, segment_pieces = [], []
    for start in range(0, len(first_texts), _CHUNK):
        a = tokenizer.tokenize(tf.constant(first_texts[start : start + _CHUNK], tf.string))
        b = tokenizer.tokenize(tf.constant(second_texts[start : start + _CHUNK], tf.string))
        length_a, length_b = a.row_lengths(), b.row_lengths()
        budget = tf.constant(max_seq_length - 3, tf.int64)
        keep_a, keep_b = kept_pair_lengths(length_a, length_b, budget)
        a = tf.gather(a, tf.ragged.range(length_a - keep_a, length_a), batch_dims=1)
        b = tf.gather(b, tf.ragged.range(keep_b), batch_dims=1)
        rows = a.nrows()
        cls = tf.fill([rows, 1], CLS_ID)
        sep = tf.fill([rows, 1], SEP_ID)
        token_pieces.append(tf.concat([cls, a, sep, b, sep], axis=1))
        positions = tf.ragged.range(keep_a + keep_b + 3)
        segment_pieces.append(tf.cast(positions >= (keep_a + 2)[:, None], tf.int32))
    return tf.concat(token_pieces, axis=0), tf.concat(segment_pieces, axis=0)


def encode_inputs(
    texts: list[str], tokenizer: Tokenizer, max_seq_length: int, second_texts=None
) -> tuple[tf.RaggedTensor, tf.RaggedTensor | None]:
    """`encode_text_pairs` when `second_texts` (list[str]) is given, else `encode_texts` with no
    segment ids: the `token_ids` and `segment_ids` arguments of `classification_dataset`."""
    if second_texts is None:
        return encode_texts(texts, tokenizer, max_seq_length), None
    return encode_text_pairs(texts, second_texts, tokenizer, max_seq_length)


def classification_dataset(
    token_ids: tf.RaggedTensor,
    labels: np.ndarray,
    *,
    batch_size: int,
    max_seq_length: int,
    training: bool,
    seed: int = 0,
    segment_ids: tf.RaggedTensor | None = None,
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
        segment_ids: tf.RaggedTensor int32 [N, None] or None. From `encode_text_pairs`; None
            for single texts (all segment 0).

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
    if training:
        dataset = batch_by_length(
            dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True).repeat(),
            batch_size,
            max_seq_length,
        )
    else:
        dataset = dataset.ragged_batch(batch_size)
    return dataset.map(pad_batch).prefetch(tf.data.AUTOTUNE)
