"""Tests for bert_tf.classification_data: single texts and sentence pairs into model inputs,
with the vocabulary's own special ids."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.batching import static_lengths
from bert_tf.classification_data import (
    classification_dataset,
    count_truncated,
    encode_inputs,
    encode_pair_batch,
    encode_text_pairs,
    encode_texts,
    pair_features,
)
from bert_tf.segment_pairs import kept_pair_lengths
from bert_tf.tokenization import Tokenizer, TokenizerConfig

#: Google's layout: [PAD] first, [unused] tokens, then [UNK] [CLS] [SEP] [MASK].
GOOGLE_LAYOUT = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def test_texts_are_framed_and_padded_with_the_vocabularys_special_ids():
    tokenizer = Tokenizer(GOOGLE_LAYOUT + ["the", "cat", "sat"], TokenizerConfig())
    ids = encode_texts(["The cat sat", "cat dog", "the cat sat the cat"], tokenizer, 5)
    assert ids.to_list() == [[4, 7, 8, 9, 5], [4, 8, 3, 5], [4, 7, 8, 9, 5]]
    dataset = classification_dataset(
        ids,
        np.zeros((3, 2), np.float32),
        batch_size=3,
        max_seq_length=5,
        training=False,
        pad_id=tokenizer.special_ids.pad,
    )
    batch = next(iter(dataset))
    assert batch["token_ids"].numpy()[1].tolist() == [4, 8, 3, 5, 0]
    assert batch["padding_mask"].numpy()[1].tolist() == [1, 1, 1, 1, 0]
    assert isinstance(batch["labels"], tf.Tensor)


#: Special tokens away from their usual ids, [PAD] last: framing and padding must use these.
SHIFTED_LAYOUT = ["[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[PAD]"]
WORDS = "the cat sat on mat dog log a and birds fly over sea".split()


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer(SHIFTED_LAYOUT + WORDS, TokenizerConfig())


def ids(tokenizer, text):
    return tokenizer.tokenize(tf.constant([text])).to_list()[0]


def test_a_pair_is_cls_a_sep_b_sep_with_segments_0_then_1(tokenizer):
    cls, sep = tokenizer.special_ids.cls, tokenizer.special_ids.sep
    token_ids, segment_ids = encode_text_pairs(
        ["the cat sat", "a dog"], ["on the mat", "birds fly over the sea"], tokenizer, 32
    )
    a, b = ids(tokenizer, "the cat sat"), ids(tokenizer, "on the mat")
    assert token_ids.to_list()[0] == [cls, *a, sep, *b, sep]
    assert segment_ids.to_list()[0] == [0] * (len(a) + 2) + [1] * (len(b) + 1)
    assert token_ids.dtype == segment_ids.dtype == tf.int32
    assert token_ids.row_lengths().numpy().tolist() == segment_ids.row_lengths().numpy().tolist()


def test_a_long_pair_is_cut_as_pretraining_cuts_it(tokenizer):
    cls, sep = tokenizer.special_ids.cls, tokenizer.special_ids.sep
    long_a = "the cat sat on the mat and the dog sat on the log"
    short_b = "birds fly"
    max_seq_length = 10
    token_ids, segment_ids = encode_text_pairs([long_a], [short_b], tokenizer, max_seq_length)
    a, b = ids(tokenizer, long_a), ids(tokenizer, short_b)
    keep_a, keep_b = (int(k) for k in kept_pair_lengths(len(a), len(b), max_seq_length - 3))
    assert (keep_a, keep_b) == (5, 2)
    # A keeps its end and B its start, as a pretraining pair keeps them.
    assert token_ids.to_list()[0] == [cls, *a[-keep_a:], sep, *b[:keep_b], sep]
    assert len(segment_ids.to_list()[0]) == max_seq_length
    assert segment_ids.to_list()[0] == [0] * (keep_a + 2) + [1] * (keep_b + 1)


def test_pairs_in_the_graph_equal_pairs_from_lists(tokenizer):
    first, second = ["the cat sat on the mat", "a dog"], ["birds fly", "over the sea and log"]
    in_graph = tf.function(lambda a, b: encode_pair_batch(a, b, tokenizer, 8))(
        tf.constant(first), tf.constant(second)
    )
    from_lists = encode_text_pairs(first, second, tokenizer, 8)
    for graph_part, list_part in zip(in_graph, from_lists):
        assert graph_part.to_list() == list_part.to_list()


def test_single_texts_have_no_segment_ids_and_keep_their_start(tokenizer):
    token_ids, segment_ids = encode_inputs(["the cat sat on the mat"], tokenizer, 5)
    assert segment_ids is None
    expected = encode_texts(["the cat sat on the mat"], tokenizer, 5)
    the, cat, sat = ids(tokenizer, "the cat sat")
    assert token_ids.to_list() == expected.to_list() == [[2, the, cat, sat, 3]]


def test_count_truncated_counts_the_examples_encoding_cuts(tokenizer):
    texts = ["the cat sat", "the cat sat on", "a dog"]  # 3, 4 and 2 tokens
    for max_seq_length, cut in ((5, 1), (6, 0), (4, 2)):
        assert count_truncated(texts, tokenizer, max_seq_length) == cut
        encoded = encode_inputs(texts, tokenizer, max_seq_length)[0]
        assert sum(len(i) - 2 < len(ids(tokenizer, t)) for i, t in zip(encoded, texts)) == cut
    # A pair holds one special more: 3 + 2 tokens fit in 8, not in 7.
    assert count_truncated(["the cat sat"], tokenizer, 8, ["a dog"]) == 0
    assert count_truncated(["the cat sat"], tokenizer, 7, ["a dog"]) == 1


def test_pair_batches_pad_tokens_with_pad_and_segments_with_0(tokenizer):
    pad = tokenizer.special_ids.pad
    labels = np.eye(2, dtype=np.float32)
    token_ids, segment_ids = encode_text_pairs(["a", "the cat"], ["dog", "sat"], tokenizer, 16)
    batch = next(
        iter(
            classification_dataset(
                token_ids,
                labels,
                batch_size=2,
                max_seq_length=16,
                training=False,
                pad_id=pad,
                segment_ids=segment_ids,
            )
        )
    )
    assert pad == 5
    assert batch["token_ids"].numpy()[0].tolist()[-1] == pad  # the shorter pair is padded
    np.testing.assert_array_equal(batch["segment_ids"], segment_ids.to_tensor(0).numpy())
    assert batch["segment_ids"].numpy()[0].tolist() == [0, 0, 0, 1, 1, 0]
    features = pair_features(token_ids, segment_ids, pad)
    for key in ("token_ids", "segment_ids", "padding_mask"):
        np.testing.assert_array_equal(features[key], batch[key])
    single = next(
        iter(
            classification_dataset(
                encode_texts(["a", "the cat"], tokenizer, 16),
                labels,
                batch_size=2,
                max_seq_length=16,
                training=False,
                pad_id=pad,
            )
        )
    )
    assert single["segment_ids"].numpy().max() == 0
    np.testing.assert_array_equal(single["labels"], labels)


def test_static_shapes_make_full_training_batches_at_the_bucket_edges():
    rng = np.random.default_rng(0)
    rows = [[2, *rng.integers(5, 9, size=rng.integers(1, 30)), 3] for _ in range(11)]
    dataset = classification_dataset(
        tf.ragged.constant(rows, tf.int32),
        np.zeros((11, 2), np.float32),
        batch_size=4,
        max_seq_length=32,
        training=True,
        static_shapes=True,
    )
    assert dataset.element_spec["token_ids"].shape.as_list() == [4, None]
    shapes = {tuple(batch["token_ids"].shape) for batch in dataset.take(12)}
    assert shapes <= {(4, length) for length in static_lengths(32)}
