"""The pretraining-task contract (DESIGN.md), checked for every task in `pretrain_tasks.TASKS`
on every registered backbone: a newly registered task is tested here without new test code."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import backbones
import pretrain_tasks
from bert_tf.corpus import read_corpus
from bert_tf.plugin_settings import constructor_arguments
from bert_tf.pretraining_data import pretraining_dataset, tokenize_corpus
from bert_tf.pretraining_model import PretrainingModel
from pretrain_tasks.base import CORE_ARGUMENTS, PretrainingTask

TASK_NAMES = sorted(pretrain_tasks.TASKS)
BACKBONE_INPUT_KEYS = {"token_ids", "segment_ids", "padding_mask"}
MAX_SEQ_LENGTH = 16


@pytest.fixture
def tokenized(corpus_path, tiny_tokenizer):
    return tokenize_corpus(read_corpus(corpus_path), tiny_tokenizer)


def one_batch(task, tokenized):
    dataset, _ = pretraining_dataset(
        tokenized, [task], max_seq_length=MAX_SEQ_LENGTH, batch_size=4, seed=0
    )
    return next(iter(dataset))


@pytest.mark.parametrize("task_name", TASK_NAMES)
def test_registry_entry_is_a_task_of_that_name(task_name):
    cls = pretrain_tasks.get(task_name)
    assert issubclass(cls, PretrainingTask) and cls.name == task_name


@pytest.mark.parametrize("task_name", TASK_NAMES)
def test_every_own_setting_is_documented_and_reaches_the_command_line(task_name):
    cls = pretrain_tasks.get(task_name)
    own = set(constructor_arguments(cls)) - set(CORE_ARGUMENTS)
    offered = pretrain_tasks.settings()
    for name in own:
        assert task_name in offered[name].owners, name
        meaning = dict(zip(offered[name].owners, offered[name].meanings))[task_name]
        assert meaning != "(undocumented)", f"{task_name}: document {name} in its Args:"


@pytest.mark.parametrize("task_name", TASK_NAMES)
def test_preprocess_adds_only_keys_prefixed_by_the_task_name(task_name, tokenized, tiny_tokenizer):
    task = pretrain_tasks.build_tasks([task_name], tiny_tokenizer.vocabulary_size, MAX_SEQ_LENGTH)[
        0
    ]
    plain = one_batch(pretrain_tasks.build_tasks(["masked_lm"], 50, MAX_SEQ_LENGTH)[0], tokenized)
    batch = one_batch(task, tokenized)
    layout_keys = {"next_sentence_labels"} if task.example_layout.sentence_pairs else set()
    added = set(batch) - set(plain) - layout_keys
    assert all(key.startswith(task.name) for key in added), added
    assert BACKBONE_INPUT_KEYS <= set(batch)


@pytest.mark.parametrize("backbone_name", sorted(backbones.BACKBONES))
@pytest.mark.parametrize("task_name", TASK_NAMES)
def test_head_trains_on_every_backbone(
    task_name, backbone_name, tokenized, tiny_tokenizer, tiny_backbone_config_factory
):
    task = pretrain_tasks.build_tasks([task_name], tiny_tokenizer.vocabulary_size, MAX_SEQ_LENGTH)[
        0
    ]
    backbone = backbones.build(backbone_name, tiny_backbone_config_factory(backbone_name))
    model = PretrainingModel(backbone, [task])
    batch = one_batch(task, tokenized)
    with tf.GradientTape() as tape:
        loss, metrics = model.loss_and_metrics(batch, training=True)
    assert np.isfinite(float(loss))
    assert {f"{task_name}_loss", f"{task_name}_accuracy"} <= set(metrics)
    head = model.head_variables([task_name])
    assert head, "a task needs a head with weights of its own"
    assert all(v.path.startswith(model.head_path(task_name)) for v in head)
    gradients = tape.gradient(loss, head)
    assert all(g is not None for g in gradients)
    assert any(float(keras.ops.max(keras.ops.abs(g))) > 0 for g in gradients)


@pytest.mark.parametrize("task_name", TASK_NAMES)
def test_description_records_name_weight_and_settings(task_name):
    task = pretrain_tasks.build_tasks([task_name], 50, MAX_SEQ_LENGTH, {task_name: 0.5})[0]
    described = task.describe()
    assert described["name"] == task_name and described["loss_weight"] == 0.5
    own = set(constructor_arguments(type(task))) - set(CORE_ARGUMENTS)
    assert set(described.get("settings", {})) == own
