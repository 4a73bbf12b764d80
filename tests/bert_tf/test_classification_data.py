"""Tests for bert_tf.classification_data: single texts and sentence pairs into model inputs."""

import numpy as np
import tensorflow as tf

from bert_tf.classification_data import (
    classification_dataset,
    encode_inputs,
    encode_text_pairs,
    encode_texts,
)
from bert_tf.segment_pairs import kept_pair_lengths
from bert_tf.tokenization import CLS_ID, SEP_ID


def ids(tokenizer, text):
    return tokenizer.tokenize(tf.constant([text])).to_list()[0]


def test_a_pair_is_cls_a_sep_b_sep_with_segments_0_then_1(tiny_tokenizer):
    token_ids, segment_ids = encode_text_pairs(
        ["the cat sat", "a dog"], ["on the mat", "birds fly over the sea"], tiny_tokenizer, 32
    )
    a, b = ids(tiny_tokenizer, "the cat sat"), ids(tiny_tokenizer, "on the mat")
    assert token_ids.to_list()[0] == [CLS_ID, *a, SEP_ID, *b, SEP_ID]
    assert segment_ids.to_list()[0] == [0] * (len(a) + 2) + [1] * (len(b) + 1)
    assert token_ids.dtype == segment_ids.dtype == tf.int32
    assert token_ids.row_lengths().numpy().tolist() == segment_ids.row_lengths().numpy().tolist()


def test_a_long_pair_is_cut_as_pretraining_cuts_it(tiny_tokenizer):
    long_a = "the cat sat on the mat and the dog sat on the log"
    short_b = "birds fly"
    max_seq_length = 10
    token_ids, segment_ids = encode_text_pairs([long_a], [short_b], tiny_tokenizer, max_seq_length)
    a, b = ids(tiny_tokenizer, long_a), ids(tiny_tokenizer, short_b)
    keep_a, keep_b = (int(k) for k in kept_pair_lengths(len(a), len(b), max_seq_length - 3))
    assert (keep_a, keep_b) == (5, 2)
    # A keeps its end and B its start, as a pretraining pair keeps them.
    assert token_ids.to_list()[0] == [CLS_ID, *a[-keep_a:], SEP_ID, *b[:keep_b], SEP_ID]
    assert len(segment_ids.to_list()[0]) == max_seq_length
    assert segment_ids.to_list()[0] == [0] * (keep_a + 2) + [1] * (keep_b + 1)


def test_single_texts_have_no_segment_ids_and_keep_their_start(tiny_tokenizer):
    token_ids, segment_ids = encode_inputs(["the cat sat on the mat"], tiny_tokenizer, 5)
    assert segment_ids is None
    expected = encode_texts(["the cat sat on the mat"], tiny_tokenizer, 5)
    assert token_ids.to_list() == expected.to_list() == [[CLS_ID, 5, 6, 7, SEP_ID]]


def test_the_dataset_carries_pair_segment_ids_and_zeros_for_single_texts(tiny_tokenizer):
    labels = np.eye(2, dtype=np.float32)
    token_ids, segment_ids = encode_text_pairs(["a", "the cat"], ["dog", "sat"], tiny_tokenizer, 16)
    batch = next(
        iter(
            classification_dataset(
                token_ids,
                labels,
                batch_size=2,
                max_seq_length=16,
                training=False,
                segment_ids=segment_ids,
            )
        )
    )
    np.testing.assert_array_equal(batch["segment_ids"], segment_ids.to_tensor().numpy())
    assert batch["segment_ids"].numpy().max() == 1
    single = next(
        iter(
            classification_dataset(
                encode_texts(["a", "the cat"], tiny_tokenizer, 16),
                labels,
                batch_size=2,
                max_seq_length=16,
                training=False,
            )
        )
    )
    assert single["segment_ids"].numpy().max() == 0
    np.testing.assert_array_equal(single["labels"], labels)
