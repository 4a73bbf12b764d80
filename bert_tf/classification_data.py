"""Input pipelines for labeled text: `[CLS] text [SEP]`, multi-hot labels, padded batches."""

import numpy as np
import tensorflow as tf

from bert_tf.batching import batch_by_length, pad_batch, static_lengths
from bert_tf.tokenization import Tokenizer


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


def encode_texts(texts: list[str], tokenizer: Tokenizer, max_seq_length: int) -> tf.RaggedTensor:
    """`encode_batch` over a Python list, 2,048 texts at a time.

    Returns:
        tf.RaggedTensor int32 [N, None].
    """
    pieces = [
        encode_batch(tf.constant(texts[start : start + 2048], tf.string), tokenizer, max_seq_length)
        for start in range(0, len(texts), 2048)
    ]
    return tf.concat(pieces, axis=0)


def single_segment_features(token_ids: tf.RaggedTensor, pad_id: int = 0) -> dict:
    """The backbone inputs of a batch of single-segment examples: `token_ids`, `segment_ids`
    (all 0) and `padding_mask`, dense [B, S], padded with `pad_id` to the batch's longest."""
    return pad_batch({"token_ids": token_ids, "segment_ids": tf.zeros_like(token_ids)}, pad_id)


def classification_dataset(
    token_ids: tf.RaggedTensor,
    labels: np.ndarray,
    *,
    batch_size: int,
    max_seq_length: int,
    training: bool,
    seed: int = 0,
    pad_id: int = 0,
    static_shapes: bool = False,
) -> tf.data.Dataset:
    """Batches of dense features and labels.

    Training: endless, reshuffled every epoch, batched by similar length. Evaluation: one pass
    in the original order (predictions line up with the file).

    Args:
        token_ids: tf.RaggedTensor int32 [N, None]. From `encode_texts`.
        labels: np.ndarray float32 [N, L]. Multi-hot.
        batch_size: int. Global batch size.
        max_seq_length: int. For the length buckets.
        training: bool.
        seed: int. Shuffling seed.
        pad_id: int. The vocabulary's `[PAD]` id.
        static_shapes: bool. Training batches full and padded to one of
            `batching.static_lengths` (`--static_shapes`); evaluation batches are left as they
            are, as evaluation runs outside the compiled training step.

    Returns:
        tf.data.Dataset of dicts: `token_ids`, `segment_ids`, `padding_mask` [B, S], `labels`
        [B, L].
    """
    dataset = tf.data.Dataset.from_tensor_slices(
        {"token_ids": token_ids, "labels": tf.constant(labels, tf.float32)}
    )
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
