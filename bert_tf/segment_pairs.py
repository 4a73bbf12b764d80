"""The rule both stages fit a sentence pair `[CLS] A [SEP] B [SEP]` into a sequence by.

The longer segment is truncated first: each keeps all its tokens if they fit, otherwise the
shorter keeps its length and the longer gets the rest; two long segments get half each. One
rule for pretraining and fine-tuning, so a fine-tuned pair looks as pairs looked in pretraining.
"""

import tensorflow as tf


def kept_pair_lengths(length_a, length_b, budget):
    """How many tokens of A and of B a pair keeps.

    Args:
        length_a: int tensor [...]. Tokens in segment A.
        length_b: int tensor [...], same dtype. Tokens in segment B.
        budget: int tensor. Tokens the two may hold together (the sequence length less 3 for
            [CLS] and two [SEP]).

    Returns:
        (keep_a, keep_b): int tensors shaped like the lengths, keep_a + keep_b <= budget.
    """
    keep_a = tf.minimum(length_a, tf.maximum(budget // 2, budget - length_b))
    keep_b = tf.minimum(length_b, budget - keep_a)
    return keep_a, keep_b
