"""Tests for whole-word masking: words grouped from wordpieces, a word's pieces selected
together, about 15% of the ordinary tokens, never more than P, specials never."""

import numpy as np
import pytest
import tensorflow as tf

import pretrain_tasks
from bert_tf.tokenization import SpecialTokenIds, Tokenizer, TokenizerConfig
from pretrain_tasks.masked_lm import MaskedLM
from pretrain_tasks.whole_words import continuation_table, group_into_words

SPECIAL_IDS = SpecialTokenIds().all()
CLS_ID, SEP_ID, MASK_ID = SpecialTokenIds().cls, SpecialTokenIds().sep, SpecialTokenIds().mask
VOCABULARY_SIZE = 60
CONTINUATIONS = tuple(range(40, 60))  # ids 5-39 start a word, 40-59 continue one
MAX_PREDICTIONS = 20


def test_tokens_are_grouped_into_words_and_a_row_starts_a_word():
    rows = tf.ragged.constant([[2, 10, 41, 42, 11, 3], [], [45, 12, 3]], tf.int32)
    words = group_into_words(rows, continuation_table(CONTINUATIONS, VOCABULARY_SIZE))
    assert words.to_list() == [[[2], [10, 41, 42], [11], [3]], [], [[45], [12], [3]]]


def rows_of_words(count, seed=0):
    """`[CLS] words [SEP]` rows of 40-90 words, each a start piece and 0-3 continuations; also
    the word each token belongs to (-1 for the specials)."""
    rng = np.random.default_rng(seed)
    rows, word_of_token = [], []
    for _ in range(count):
        row, owners = [CLS_ID], [-1]
        for word in range(rng.integers(40, 90)):
            pieces = [
                rng.integers(5, 40),
                *rng.integers(40, 60, rng.choice(4, p=[0.6, 0.25, 0.1, 0.05])),
            ]
            row += pieces
            owners += [word] * len(pieces)
        rows.append(row + [SEP_ID])
        word_of_token.append(np.array(owners + [-1]))
    return rows, word_of_token


@pytest.fixture(scope="module")
def masked_words():
    rows, owners = rows_of_words(600)
    task = MaskedLM(
        VOCABULARY_SIZE,
        512,
        max_predictions_per_seq=MAX_PREDICTIONS,
        whole_word_masking=True,
        continuation_ids=CONTINUATIONS,
    )
    tf.random.set_seed(7)
    out = tf.function(task.preprocess)({"token_ids": tf.ragged.constant(rows, tf.int32)})
    return rows, owners, {key: value.numpy() for key, value in out.items()}


def selected_positions(out, index):
    weights = out["masked_lm_weights"][index]
    return out["masked_lm_positions"][index][weights == 1]


def test_a_selected_word_is_selected_whole_and_specials_never(masked_words):
    rows, owners, out = masked_words
    for index, row_owners in enumerate(owners):
        positions = selected_positions(out, index)
        assert len(positions) == len(set(positions.tolist())) <= MAX_PREDICTIONS
        words = set(row_owners[positions].tolist())
        assert -1 not in words
        whole = np.flatnonzero(np.isin(row_owners, list(words)))
        assert sorted(positions.tolist()) == whole.tolist()
        np.testing.assert_array_equal(
            out["masked_lm_ids"][index][: len(positions)], np.array(rows[index])[positions]
        )


def test_about_fifteen_percent_of_the_ordinary_tokens_are_selected(masked_words):
    rows, _, out = masked_words
    selectable = sum(sum(t not in SPECIAL_IDS for t in row) for row in rows)
    rate = out["masked_lm_weights"].sum() / selectable
    assert 0.14 <= rate <= 0.16, rate


def test_rows_alike_get_masks_of_their_own_and_a_seed_repeats_them():
    rows = [[CLS_ID, *range(5, 35), SEP_ID]] * 50
    task = MaskedLM(VOCABULARY_SIZE, 64, whole_word_masking=True, continuation_ids=CONTINUATIONS)
    preprocess = tf.function(task.preprocess)

    def positions():
        tf.random.set_seed(3)
        out = preprocess({"token_ids": tf.ragged.constant(rows, tf.int32)})
        return out["masked_lm_positions"].numpy()

    first = positions()
    assert len({tuple(row) for row in first}) > 40
    np.testing.assert_array_equal(positions(), first)


def test_build_tasks_gives_the_masked_lm_the_vocabularys_continuations():
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "deb", "##conf", "x", "##s"]
    tokenizer = Tokenizer(vocabulary, TokenizerConfig())
    assert tokenizer.continuation_ids == (6, 8)
    assert Tokenizer(vocabulary, TokenizerConfig(kind="whitespace")).continuation_ids == ()
    (task,) = pretrain_tasks.build_tasks(
        ["masked_lm"],
        tokenizer.vocabulary_size,
        16,
        task_settings={"whole_word_masking": True},
        continuation_ids=tokenizer.continuation_ids,
    )
    assert task.continuation_ids == (6, 8)
    assert task.describe()["settings"]["whole_word_masking"] is True
    assert "continuation_ids" not in task.describe()["settings"]
