"""Batching for every input pipeline (pretraining, fine-tuning, prediction): ragged batches of
similar length, padded to their longest, with the padding mask the backbones take."""

import tensorflow as tf


def pad_batch(batch: dict, pad_id: int = 0) -> dict:
    """Turns ragged [B, None] features into dense ones padded to the batch's longest, plus the
    `padding_mask` (1 for real tokens).

    Args:
        batch: dict. Ragged `token_ids` [B, None] and other features.
        pad_id: int. The vocabulary's `[PAD]` id (`Tokenizer.special_ids.pad`), which
            `token_ids` are padded with; other ragged features are padded with 0 (a segment id
            must stay a valid one where the vocabulary's `[PAD]` is not 0).
    """
    padded = {
        key: (
            value.to_tensor(pad_id if key == "token_ids" else 0)
            if isinstance(value, tf.RaggedTensor)
            else value
        )
        for key, value in batch.items()
    }
    padded["padding_mask"] = tf.ones_like(batch["token_ids"]).to_tensor(0)
    return padded


def bucket_boundaries(max_seq_length: int, num_buckets: int = 8) -> list[int]:
    """Sequence-length bucket edges, evenly spaced up to `max_seq_length`."""
    step = max(1, max_seq_length // num_buckets)
    return list(range(step, max_seq_length, step))


def batch_by_length(dataset, batch_size: int, max_seq_length: int) -> tf.data.Dataset:
    """Ragged batches of examples of similar `token_ids` length, so padding stays small.

    Args:
        dataset: tf.data.Dataset of dicts with a 1-D `token_ids`.
        batch_size: int. Examples per batch.
        max_seq_length: int. Longest sequence, for the bucket edges.
    """
    boundaries = tf.constant(bucket_boundaries(max_seq_length), tf.int32)

    def bucket_of(example):
        length = tf.shape(example["token_ids"])[:1]
        return tf.cast(tf.searchsorted(boundaries, length, side="right")[0], tf.int64)

    return dataset.group_by_window(
        key_func=bucket_of,
        reduce_func=lambda _, window: window.ragged_batch(batch_size),
        window_size=batch_size,
    )
