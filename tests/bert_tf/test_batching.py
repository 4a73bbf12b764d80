"""Tests for bert_tf.batching: padding and length buckets."""

import tensorflow as tf

from bert_tf.batching import bucket_boundaries, pad_batch, static_lengths


def test_pad_batch_makes_padding_mask_from_lengths():
    batch = {
        "token_ids": tf.ragged.constant([[2, 7, 3], [2, 7, 8, 9, 3], [2, 3]], tf.int32),
        "segment_ids": tf.ragged.constant([[0, 0, 0], [0, 0, 0, 1, 1], [0, 0]], tf.int32),
        "next_sentence_labels": tf.constant([0, 1, 0], tf.int32),
    }
    padded = {key: value.numpy() for key, value in pad_batch(batch).items()}
    assert padded["token_ids"].tolist() == [[2, 7, 3, 0, 0], [2, 7, 8, 9, 3], [2, 3, 0, 0, 0]]
    assert padded["segment_ids"].tolist() == [[0, 0, 0, 0, 0], [0, 0, 0, 1, 1], [0, 0, 0, 0, 0]]
    assert padded["padding_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]
    assert padded["next_sentence_labels"].tolist() == [0, 1, 0]


def test_bucket_boundaries_are_increasing_and_below_max_length():
    boundaries = bucket_boundaries(128)
    assert boundaries == sorted(boundaries) and len(set(boundaries)) == len(boundaries)
    assert boundaries[0] > 0 and boundaries[-1] < 128
    assert bucket_boundaries(4) == [1, 2, 3]


def test_pad_batch_pads_with_the_given_pad_id():
    batch = {"token_ids": tf.ragged.constant([[101, 7, 102], [101, 102]], tf.int32)}
    padded = pad_batch(batch, pad_id=9)
    assert padded["token_ids"].numpy().tolist() == [[101, 7, 102], [101, 102, 9]]
    assert padded["padding_mask"].numpy().tolist() == [[1, 1, 1], [1, 1, 0]]


def test_static_lengths_pad_to_the_shortest_edge_that_holds_the_batch():
    assert static_lengths(32) == [4, 8, 12, 16, 20, 24, 28, 32]
    for rows, width in (([[2, 7, 3]], 4), ([[2, 3], [2, 7, 8, 9, 3]], 8), ([[1] * 29], 32)):
        padded = pad_batch({"token_ids": tf.ragged.constant(rows, tf.int32)}, 0, static_lengths(32))
        assert padded["token_ids"].shape == padded["padding_mask"].shape == (len(rows), width)
        assert padded["padding_mask"].numpy().sum() == sum(map(len, rows))
