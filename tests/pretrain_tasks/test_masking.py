"""Tests for the masking of pretrain_tasks.masked_lm on ragged batches: 15% of ordinary tokens
selected, 80/10/10 mask/random/kept, specials never selected, positions/ids/weights agreeing."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.tokenization import SPECIAL_TOKENS, SpecialTokenIds
from pretrain_tasks.masked_lm import MaskedLM

SPECIAL_IDS = SpecialTokenIds().all()  # where a learned vocabulary has them
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = SPECIAL_IDS

MASKING_VOCABULARY = 60
MASKING_MAX_PREDICTIONS = 20


def ragged_pairs(num_sequences, min_length, max_length, seed=0):
    """`[CLS] A [SEP] B [SEP]` rows of ordinary ids, with a few [UNK]/[PAD]/[MASK] inside."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(num_sequences):
        body = rng.integers(
            len(SPECIAL_TOKENS), MASKING_VOCABULARY, rng.integers(min_length, max_length)
        )
        specials = rng.choice([UNK_ID, PAD_ID, MASK_ID], size=2)
        places = rng.choice(len(body), size=2, replace=False)
        body[places] = specials
        middle = len(body) // 2
        rows.append([CLS_ID, *body[:middle], SEP_ID, *body[middle:], SEP_ID])
    return rows


@pytest.fixture(scope="module")
def masked_sample():
    """2000 sequences of 80-130 tokens (so rounding the 15% up adds < 1%), masked once."""
    rows = ragged_pairs(2000, 80, 126)
    task = MaskedLM(MASKING_VOCABULARY, 128, max_predictions_per_seq=MASKING_MAX_PREDICTIONS)
    tf.random.set_seed(7)
    out = tf.function(task.preprocess)({"token_ids": tf.ragged.constant(rows, tf.int32)})
    return rows, {key: value.numpy() for key, value in out.items()}


def test_masked_lm_output_shapes_and_types(masked_sample):
    rows, out = masked_sample
    for key in ("masked_lm_positions", "masked_lm_ids", "masked_lm_weights"):
        assert out[key].shape == (len(rows), MASKING_MAX_PREDICTIONS), key
    assert out["masked_lm_positions"].dtype == np.int32
    assert out["masked_lm_ids"].dtype == np.int32
    assert out["masked_lm_weights"].dtype == np.float32
    assert [len(r) for r in out["token_ids"]] == [len(r) for r in rows]


def test_selection_rate_is_fifteen_percent_of_ordinary_tokens(masked_sample):
    rows, out = masked_sample
    selectable = np.array([sum(t not in SPECIAL_IDS for t in row) for row in rows])
    selected = out["masked_lm_weights"].sum(axis=1)
    rate = selected.sum() / selectable.sum()
    assert 0.145 <= rate <= 0.16, rate
    # Per sequence: 15% of its own ordinary tokens, rounded either way (tensorflow-text
    # rounds up in float32, so 15% of 100 can come out as 16).
    assert np.all(selected >= np.floor(0.15 * selectable))
    assert np.all(selected <= np.floor(0.15 * selectable) + 1)


def test_selected_tokens_are_80_percent_mask_10_random_10_kept(masked_sample):
    rows, out = masked_sample
    outcomes = {"mask": 0, "random": 0, "kept": 0}
    replacements = set()
    for row, masked, positions, weights in zip(
        rows, out["token_ids"], out["masked_lm_positions"], out["masked_lm_weights"]
    ):
        for position in positions[weights == 1]:
            if masked[position] == MASK_ID:
                outcomes["mask"] += 1
            elif masked[position] == row[position]:
                outcomes["kept"] += 1
            else:
                outcomes["random"] += 1
                replacements.add(int(masked[position]))
    total = sum(outcomes.values())
    assert total > 20000
    assert abs(outcomes["mask"] / total - 0.8) < 0.015, outcomes
    assert abs(outcomes["random"] / total - 0.1) < 0.015, outcomes
    assert abs(outcomes["kept"] / total - 0.1) < 0.015, outcomes
    # Random replacements come from the whole vocabulary, not a few ids.
    assert len(replacements) > MASKING_VOCABULARY * 0.8
    assert max(replacements) < MASKING_VOCABULARY


def test_special_tokens_are_never_selected(masked_sample):
    rows, out = masked_sample
    for row, positions, ids, weights in zip(
        rows, out["masked_lm_positions"], out["masked_lm_ids"], out["masked_lm_weights"]
    ):
        real = weights == 1
        assert not set(ids[real].tolist()) & set(SPECIAL_IDS)
        assert all(row[p] not in SPECIAL_IDS for p in positions[real])


def test_masked_positions_ids_and_weights_agree(masked_sample):
    rows, out = masked_sample
    for row, masked, positions, ids, weights in zip(
        rows,
        out["token_ids"],
        out["masked_lm_positions"],
        out["masked_lm_ids"],
        out["masked_lm_weights"],
    ):
        count = int(weights.sum())
        # Weights are exactly 1 for the real predictions, first, then 0 for the padding.
        assert set(np.unique(weights)) <= {0.0, 1.0}
        assert np.all(weights[:count] == 1) and np.all(weights[count:] == 0)
        assert np.all(positions[count:] == 0) and np.all(ids[count:] == 0)
        real_positions = positions[:count]
        assert len(set(real_positions.tolist())) == count
        assert np.all(real_positions < len(row))
        # The label at each weighted position is the unmasked token there.
        assert np.array_equal(ids[:count], np.asarray(row)[real_positions])
        # Only selected positions may change.
        changed = np.flatnonzero(np.asarray(masked) != np.asarray(row))
        assert set(changed.tolist()) <= set(real_positions.tolist())


def test_at_most_max_predictions_per_sequence():
    rows = ragged_pairs(200, 40, 60, seed=1)  # 15% of 40-60 tokens is 6-9 > 3
    task = MaskedLM(MASKING_VOCABULARY, 64, max_predictions_per_seq=3)
    out = task.preprocess({"token_ids": tf.ragged.constant(rows, tf.int32)})
    weights = out["masked_lm_weights"].numpy()
    assert weights.shape == (200, 3)
    assert np.all(weights.sum(axis=1) == 3)
    changed = [
        np.sum(np.asarray(m) != np.asarray(r)) for m, r in zip(out["token_ids"].to_list(), rows)
    ]
    assert max(changed) <= 3


def test_masking_keeps_other_batch_keys():
    batch = {
        "token_ids": tf.ragged.constant([[CLS_ID, 7, 8, SEP_ID, 9, SEP_ID]], tf.int32),
        "segment_ids": tf.ragged.constant([[0, 0, 0, 0, 1, 1]], tf.int32),
        "next_sentence_labels": tf.constant([1], tf.int32),
    }
    out = MaskedLM(MASKING_VOCABULARY, 8, max_predictions_per_seq=4).preprocess(batch)
    assert out["segment_ids"].to_list() == [[0, 0, 0, 0, 1, 1]]
    assert out["next_sentence_labels"].numpy().tolist() == [1]


def test_masking_uses_the_vocabularys_special_ids():
    """Google's layout: [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103; ids 0-4 are
    `[PAD]` and `[unused]` tokens there, so nothing may assume the learned layout."""
    google = SpecialTokenIds(pad=0, unk=100, cls=101, sep=102, mask=103)
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(400):
        body = rng.integers(104, 300, 30)
        body[rng.choice(30, size=2, replace=False)] = [100, 103]
        rows.append([101, *body[:15], 102, *body[15:], 102])
    task = MaskedLM(300, 64, max_predictions_per_seq=8, special_ids=google)
    out = task.preprocess({"token_ids": tf.ragged.constant(rows, tf.int32)})
    weights = out["masked_lm_weights"].numpy()
    real = weights == 1
    labels = out["masked_lm_ids"].numpy()[real]
    assert not set(labels.tolist()) & set(google.all())
    masked = out["token_ids"].to_list()
    masked_to = [
        masked[row][position]
        for row, slots in enumerate(out["masked_lm_positions"].numpy())
        for position in slots[real[row]]
    ]
    assert abs(np.mean(np.asarray(masked_to) == 103) - 0.8) < 0.05  # [MASK] is 103 here
    assert np.mean(np.asarray(masked_to) == SpecialTokenIds().mask) < 0.01  # not id 4
