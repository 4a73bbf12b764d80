"""The project's wordpiece learner returns exactly tensorflow-text's vocabulary."""

import collections
import os

import pytest
import tensorflow as tf
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as reference

from bert_tf import wordpiece_learner
from bert_tf.tokenization import SPECIAL_TOKENS, TokenizerConfig, learn_vocabulary, normalize

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "data", "corpus.txt")
RESERVED = list(SPECIAL_TOKENS)


def sample_word_counts(lines):
    """Whitespace word counts of the shipped sample corpus's first `lines` lines."""
    counts = collections.Counter()
    with open(SAMPLE, encoding="utf-8") as f:
        for _, line in zip(range(lines), f):
            counts.update(line.lower().split())
    return counts


@pytest.mark.parametrize("vocab_size", [60, 400, 1500])
def test_same_vocabulary_as_tensorflow_text_on_the_sample_corpus(vocab_size):
    counts = sample_word_counts(1500)
    expected = reference.learn(counts, vocab_size, RESERVED)
    assert wordpiece_learner.learn(counts, vocab_size, RESERVED) == expected


@pytest.mark.parametrize(
    "params",
    [
        dict(include_joiner_token=False),
        dict(num_iterations=1),
        dict(num_iterations=0),
        dict(lower_thresh=None, upper_thresh=None),
        dict(lower_thresh=1, max_unique_chars=20, max_token_length=6),
        dict(joiner="@@", slack_ratio=0.0),
    ],
)
def test_same_vocabulary_as_tensorflow_text_with_other_parameters(params):
    counts = sample_word_counts(400)
    expected = reference.learn(counts, 300, RESERVED, **params)
    assert wordpiece_learner.learn(counts, 300, RESERVED, **params) == expected


def test_same_vocabulary_where_a_word_is_spelled_like_a_joined_piece():
    # Words that contain the joiner, and thresholds low enough to keep zero-count pieces.
    counts = {"##ab": 3, "ab": 5, "cab": 4, "#": 2, "##": 1, "dab": 1, "abab": 2, "b": 1}
    for params in (dict(lower_thresh=None), dict(lower_thresh=0, upper_thresh=1)):
        for vocab_size in (8, 15, 40):
            expected = reference.learn(counts, vocab_size, RESERVED, **params)
            assert wordpiece_learner.learn(counts, vocab_size, RESERVED, **params) == expected


def test_learn_vocabulary_matches_bert_vocab_from_dataset():
    with open(SAMPLE, encoding="utf-8") as f:
        texts = [line for _, line in zip(range(1000), f)]
    config = TokenizerConfig()
    dataset = tf.data.Dataset.from_tensor_slices(texts).batch(256)
    expected = bert_vocab_from_dataset.bert_vocab_from_dataset(
        dataset.map(lambda batch: normalize(batch, config)),
        vocab_size=500,
        reserved_tokens=RESERVED,
        bert_tokenizer_params={"lower_case": False},
    )
    assert learn_vocabulary(texts, config, 500) == expected[:500]
