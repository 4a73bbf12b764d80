"""Tests for bert_tf.segment_pairs: the one rule both stages cut a sentence pair by."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import pretraining_data, segment_pairs


@pytest.mark.parametrize(
    "length_a, length_b, budget, expected",
    [
        (3, 4, 10, (3, 4)),  # both fit
        (20, 3, 10, (7, 3)),  # only A is long: B keeps all, A the rest
        (3, 20, 10, (3, 7)),  # only B is long
        (20, 20, 10, (5, 5)),  # both long: half each
        (20, 20, 9, (4, 5)),  # an odd budget: B gets the extra token
        (6, 5, 10, (5, 5)),  # the longer is cut first, down to half
        (0, 20, 10, (0, 10)),
    ],
)
def test_the_longer_segment_is_truncated_first(length_a, length_b, budget, expected):
    keep = segment_pairs.kept_pair_lengths(
        tf.constant(length_a, tf.int64),
        tf.constant(length_b, tf.int64),
        tf.constant(budget, tf.int64),
    )
    assert tuple(int(k) for k in keep) == expected


def test_it_works_on_whole_batches_of_lengths():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 40, 200), rng.integers(0, 40, 200)
    keep_a, keep_b = (
        k.numpy() for k in segment_pairs.kept_pair_lengths(tf.constant(a), tf.constant(b), 16)
    )
    assert np.all(keep_a + keep_b <= 16) and np.all(keep_a <= a) and np.all(keep_b <= b)
    fits = a + b <= 16
    assert np.array_equal(keep_a[fits], a[fits]) and np.array_equal(keep_b[fits], b[fits])
    # Whatever is cut comes off the longer segment first: the shorter keeps at least
    # min(its length, half the budget).
    assert np.all(np.minimum(keep_a, keep_b) >= np.minimum(np.minimum(a, b), 8))


def test_pretraining_cuts_its_pairs_with_this_rule():
    assert pretraining_data.kept_pair_lengths is segment_pairs.kept_pair_lengths
