"""Whole-word masking: the pieces of a word are selected together (Google's BERT, Model Garden).

A wordpiece vocabulary splits rare words into pieces (`deb`, `##conf`); masking one piece
alone leaves the rest of the word to give it away. Here the token ids of each row are grouped
into words (a word is a piece that does not continue another, followed by its continuations),
and tensorflow-text's `mask_language_model` selects words: all the pieces of a word or none.
What a selected piece becomes ([MASK], a random token, itself) is still drawn per piece, as
Google's BERT draws it.
"""

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text


def continuation_table(continuation_ids, vocabulary_size):
    """A bool [V] constant: True at the ids of pieces that continue a word (`##` pieces)."""
    table = np.zeros([vocabulary_size], bool)
    table[list(continuation_ids)] = True
    return tf.constant(table)


def group_into_words(token_ids, is_continuation):
    """Groups each row's tokens into words.

    Args:
        token_ids: int ragged [B, (T)].
        is_continuation: bool [V]. From `continuation_table`.

    Returns:
        int ragged [B, (words), (pieces)]: the same ids in the same order. A row's first token
        always starts a word, even a stray continuation.
    """
    flat = token_ids.flat_values
    rows = token_ids.value_rowids()
    index_in_row = tf.range(tf.size(flat, out_type=rows.dtype)) - tf.gather(
        token_ids.row_starts(), rows
    )
    starts = tf.logical_or(
        tf.logical_not(tf.gather(is_continuation, flat)), tf.equal(index_in_row, 0)
    )
    word_of_piece = tf.cumsum(tf.cast(starts, rows.dtype)) - 1
    words = tf.RaggedTensor.from_value_rowids(
        flat, word_of_piece, nrows=tf.reduce_sum(tf.cast(starts, rows.dtype))
    )
    words_per_row = tf.math.unsorted_segment_sum(
        tf.cast(starts, rows.dtype), rows, token_ids.nrows(out_type=rows.dtype)
    )
    return tf.RaggedTensor.from_row_lengths(words, words_per_row)


class WholeWordSelector(tf_text.RandomItemSelector):
    """Selects whole words until about `selection_rate` of a row's selectable tokens are taken.

    As Google's BERT does: the budget is counted in tokens, `max(1, round(rate × tokens))`,
    at most `max_selections` (the masked LM's P), and words are taken in a random order while
    the tokens taken so far are under the budget, so the last word may overshoot it; a word
    that would pass `max_selections` is not taken, so every selected piece gets a prediction.
    A word holding an unselectable id (a special token) is never selected.

    The order is drawn statelessly from `seed` (one per batch), so it does not depend on
    thread timing (see `masked_lm._seeded_shuffle`).

    Args:
        selection_rate: float. Share of the selectable tokens to select.
        max_selections: int. Most tokens selected per row.
        unselectable_ids: list[int]. Ids never selected.
        seed: int64 [2]. The batch's seed.
    """

    def __init__(self, selection_rate, max_selections, unselectable_ids, seed):
        super().__init__(max_selections, selection_rate, unselectable_ids)
        self.seed = seed

    def get_selection_mask(self, input_ids, axis=1):
        """`input_ids` int ragged [B, (words), (pieces)] -> bool ragged [B, (words)]."""
        selectable = self.get_selectable(input_ids, axis)
        pieces = tf.cast(input_ids.values.row_lengths(), tf.float32)
        keys = tf.random.stateless_uniform(tf.shape(pieces), seed=self.seed)
        keys = tf.where(selectable.flat_values, keys, 2.0)  # unselectable words sort last
        dense_keys = selectable.with_flat_values(keys).to_tensor(default_value=3.0)
        selectable_pieces = tf.where(selectable.flat_values, pieces, 0.0)
        dense_pieces = selectable.with_flat_values(selectable_pieces).to_tensor()
        budget = tf.minimum(
            tf.maximum(1.0, tf.round(self.selection_rate * tf.reduce_sum(dense_pieces, 1))),
            float(self.max_selections_per_batch),
        )[:, None]
        order = tf.argsort(dense_keys, axis=1)
        ordered_pieces = tf.gather(dense_pieces, order, batch_dims=1)
        taken_after = tf.cumsum(ordered_pieces, axis=1)
        taken_before = taken_after - ordered_pieces
        chosen = (
            (ordered_pieces > 0)
            & (taken_before < budget)
            & (taken_after <= float(self.max_selections_per_batch))
        )
        chosen = tf.gather(chosen, tf.argsort(order, axis=1), batch_dims=1)
        return tf.RaggedTensor.from_tensor(chosen, lengths=selectable.row_lengths())
