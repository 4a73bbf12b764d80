"""Tests for bert_tf.classification_data: `[CLS] text [SEP]` with the vocabulary's own ids."""

import numpy as np
import tensorflow as tf

from bert_tf.batching import static_lengths
from bert_tf.classification_data import classification_dataset, encode_texts
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
