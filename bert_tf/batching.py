"""Batching for every input pipeline (pretraining, fine-tuning, prediction): ragged batches of
similar length, padded to their longest, with the padding mask the backbones take."""

import tensorflow as tf


def pad_batch(batch: dict, pad_id: int = 0, lengths: list[int] | None = None) -> dict:
    """Turns ragged [B, None] features into dense ones padded to the batch's longest, plus the
    `padding_mask` (1 for real tokens).

    Args:
        batch: dict. Ragged `token_ids` [B, None] and other features.
        pad_id: int. The vocabulary's `[PAD]` id (`Tokenizer.special_ids.pad`), which
            `token_ids` are padded with; other ragged features are padded with 0 (a segment id
            must stay a valid one where the vocabulary's `[PAD]` is not 0).
        lengths: list[int] or None. With `static_lengths`: pad instead to the shortest of these
            that holds the batch's longest, so batches come in a few fixed shapes.
    """
    shape = None
    if lengths is not None:
        edges = tf.constant(lengths, tf.int64)
        longest = tf.reduce_max(batch["token_ids"].row_lengths())
        length = edges[tf.minimum(tf.searchsorted(edges, longest[None])[0], len(lengths) - 1)]
        shape = tf.stack([batch["token_ids"].nrows(), length])
    padded = {
        key: (
            value.to_tensor(pad_id if key == "token_ids" else 0, shape=shape)
            if isinstance(value, tf.RaggedTensor)
            else value
        )
        for key, value in batch.items()
    }
    padded["padding_mask"] = tf.ones_like(batch["token_ids"]).to_tensor(0, shape=shape)
    return padded


def bucket_boundaries(max_seq_length: int, num_buckets: int = 8) -> list[int]:
    """Sequence-length bucket edges, evenly spaced up to `max_seq_length`."""
    step = max(1, max_seq_length // num_buckets)
    return list(range(step, max_seq_length, step))


def static_lengths(max_seq_length: int) -> list[int]:
    """The sequence lengths of `--static_shapes` batches: the bucket edges and `max_seq_length`.

    An accelerator that compiles one program per input shape (XLA, TPUs) then compiles at most
    this many, instead of one per batch length.
    """
    return [*bucket_boundaries(max_seq_length), max_seq_length]


def batch_by_length(
    dataset, batch_size: int, max_seq_length: int, drop_remainder: bool = False
) -> tf.data.Dataset:
    """Ragged batches of examples of similar `token_ids` length, so padding stays small.

    Args:
        dataset: tf.data.Dataset of dicts with a 1-D `token_ids`.
        batch_size: int. Examples per batch.
        max_seq_length: int. Longest sequence, for the bucket edges.
        drop_remainder: bool. Never a short batch (at the end of a finite dataset), so the
            batch size is part of the static shape.
    """
    boundaries = tf.constant(bucket_boundaries(max_seq_length), tf.int32)

    def bucket_of(example):
        length = tf.shape(example["token_ids"])[:1]
        return tf.cast(tf.searchsorted(boundaries, length, side="right")[0], tf.int64)

    return dataset.group_by_window(
        key_func=bucket_of,
        reduce_func=lambda _, window: window.ragged_batch(
            batch_size, drop_remainder=drop_remainder
        ),
        window_size=batch_size,
    )
