"""Tests for bert_tf.trainer: the training step compiled by XLA on static shapes, on CPU, as the
proxy that the TPU path (which compiles every step) compiles, and a bounded number of times."""

import collections

import keras
import numpy as np
import pytest
import tensorflow as tf
from corpora import TINY_CORPUS
from tiny_configs import tiny_overrides

import backbones
from bert_tf.batching import static_lengths
from bert_tf.corpus import read_corpus
from bert_tf.optimization import create_optimizer
from bert_tf.pretraining_data import PretrainingExamples, tokenize_corpus
from bert_tf.pretraining_model import PretrainingModel
from bert_tf.trainer import Trainer
from pretrain_tasks.masked_lm import MaskedLM
from pretrain_tasks.next_sentence import NextSentence

MAX_SEQ_LENGTH = 32
BATCH_SIZE = 4
STEPS = 6
RECORDED = 16


@pytest.fixture(scope="module")
def tasks(tiny_tokenizer):
    size = tiny_tokenizer.vocabulary_size
    return [
        MaskedLM(size, MAX_SEQ_LENGTH, max_predictions_per_seq=4),
        NextSentence(size, MAX_SEQ_LENGTH),
    ]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, tiny_tokenizer, tasks):
    """`RECORDED` batches of the pretraining pipeline without and with static shapes, taken
    once, so every model sees the same."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(TINY_CORPUS, encoding="utf-8")
    corpus = tokenize_corpus(read_corpus(str(path)), tiny_tokenizer)
    return {
        static_shapes: list(
            PretrainingExamples(
                corpus, tasks, max_seq_length=MAX_SEQ_LENGTH, seed=0, static_shapes=static_shapes
            )
            .dataset(BATCH_SIZE)
            .take(RECORDED)
        )
        for static_shapes in (False, True)
    }


def replayed(batches):
    spec = tf.nest.map_structure(
        lambda t: tf.TensorSpec([None] * t.shape.rank, t.dtype), batches[0]
    )
    return tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=spec).repeat()


def train(backbone_name, batches, tasks, tmp_path, steps, **compilation):
    """Trains a fresh tiny model (the same initial weights every call, no dropout) for `steps`
    steps on `batches`; returns the trainer and its summary."""
    keras.utils.set_random_seed(0)
    config = backbones.backbone_config(
        backbone_name,
        tasks[0].vocabulary_size,
        "tiny",
        max_sequence_length=MAX_SEQ_LENGTH,
        **tiny_overrides(backbone_name, dropout=0.0),
    )
    backbone = backbones.build(backbone_name, config)
    model = PretrainingModel(backbone, tasks)
    model(batches[0])
    optimizer = create_optimizer(1e-2, steps, 0)
    optimizer.build(model.trainable_variables)
    directory = tmp_path / ("_".join(sorted(compilation)) or "plain")
    trainer = Trainer(
        model,
        optimizer,
        model.loss_and_metrics,
        tf.distribute.get_strategy(),
        str(directory / "checkpoints"),
        str(directory / "logs"),
        **compilation,
    )
    return trainer, trainer.train(replayed(batches), steps, log_every=steps)


def test_static_shapes_come_from_a_small_fixed_set(recorded):
    dynamic, static = recorded[False], recorded[True]
    allowed = {(BATCH_SIZE, length) for length in static_lengths(MAX_SEQ_LENGTH)}
    shapes = {tuple(batch["token_ids"].shape) for batch in static}
    assert shapes <= allowed
    for batch in static:
        assert batch["segment_ids"].shape == batch["padding_mask"].shape == batch["token_ids"].shape
        assert batch["masked_lm_positions"].shape == (BATCH_SIZE, 4)
        real = batch["padding_mask"].numpy().sum(axis=1)
        assert real.max() > (batch["token_ids"].shape[1] - MAX_SEQ_LENGTH // 8)  # shortest fit
    assert {tuple(b["token_ids"].shape) for b in dynamic} - allowed  # without: any length


def test_the_step_compiles_with_xla_once_per_static_shape(recorded, tasks, tmp_path):
    """On the transformer, the backbone of large runs (the TextCNN compiles as well; testing
    it too would double this test's 25 s)."""
    # Batches of the two commonest shapes, so the test compiles two programs, not eight.
    counts = collections.Counter(tuple(batch["token_ids"].shape) for batch in recorded[True])
    two = [shape for shape, _ in counts.most_common(2)]
    batches = [batch for batch in recorded[True] if tuple(batch["token_ids"].shape) in two]
    compiled, history = train(
        "transformer", batches, tasks, tmp_path, STEPS, jit_compile=True, static_shapes=True
    )
    plain, plain_history = train("transformer", batches, tasks, tmp_path, 1)
    assert compiled.step_programs == len(two) == 2
    assert plain.step_programs == 1  # dynamic shapes: one trace, whatever the lengths
    assert np.isfinite(history["end"]["loss"])
    # XLA computes what the graph does (up to float reassociation).
    for key, value in plain_history["first"].items():
        assert history["first"][key] == pytest.approx(value, rel=1e-3, abs=1e-4), key
