"""Tests for the pretrain_tasks registry and `build_tasks`."""

import pytest

import pretrain_tasks
from bert_tf.errors import InputError
from pretrain_tasks import PretrainingTask, build_tasks


def test_registry_names_match_task_classes():
    assert pretrain_tasks.TASKS
    for name, cls in pretrain_tasks.TASKS.items():
        assert issubclass(cls, PretrainingTask)
        assert cls.name == name
        assert pretrain_tasks.get(name) is cls


def test_unknown_task_lists_the_known_names():
    with pytest.raises(InputError, match="'sentence_order'") as error:
        pretrain_tasks.get("sentence_order")
    for name in pretrain_tasks.TASKS:
        assert name in str(error.value)
    with pytest.raises(InputError, match="sentence_order"):
        build_tasks(["masked_lm", "sentence_order"], 30, 16)


def test_duplicate_task_names_are_rejected():
    with pytest.raises(InputError, match="twice"):
        build_tasks(["masked_lm", "next_sentence", "masked_lm"], 30, 16)


def test_no_task_is_an_error():
    with pytest.raises(InputError, match="no pretraining task"):
        build_tasks([], 30, 16)


def test_loss_weights_for_unlisted_tasks_are_rejected():
    with pytest.raises(InputError, match="next_sentence"):
        build_tasks(["masked_lm"], 30, 16, loss_weights={"next_sentence": 0.5})


def test_build_tasks_applies_weights_and_settings_in_order():
    tasks = build_tasks(
        ["next_sentence", "masked_lm"],
        30,
        16,
        {"next_sentence": 0.25},
        {"max_predictions_per_seq": 7},
    )
    assert [t.name for t in tasks] == ["next_sentence", "masked_lm"]
    assert [t.loss_weight for t in tasks] == [0.25, 1.0]
    assert tasks[1].max_predictions_per_seq == 7
    assert all(t.vocabulary_size == 30 and t.max_seq_length == 16 for t in tasks)
