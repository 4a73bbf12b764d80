"""Tests for pretrain_tasks.replaced_token_detection (ELECTRA): the corruption and its labels,
the masking it reuses, the loss, the generator's shape and gradients, and (slow) pretraining on
the shipped sample with both backbones, fine-tuning from the bundle, and resuming."""

import os
import types

import finetuning_support as support
import keras
import numpy as np
import pytest
import tensorflow as tf
from tiny_configs import tiny_overrides

import backbones
import pretrain_tasks
from bert_tf import bundle, pretraining, weights_file
from bert_tf.corpus import read_corpus
from bert_tf.errors import InputError
from bert_tf.finetuning import FinetuneConfig, run_finetuning
from bert_tf.pretraining import PretrainConfig, run_pretraining
from bert_tf.pretraining_data import pretraining_dataset, tokenize_corpus
from bert_tf.pretraining_model import PretrainingModel
from bert_tf.tokenization import SpecialTokenIds
from pretrain_tasks import replaced_token_detection as rtd

BACKBONE_NAMES = sorted(backbones.BACKBONES)
MAX_SEQ_LENGTH = 16
SPECIAL = SpecialTokenIds()


def build_task(vocabulary_size, **settings):
    return pretrain_tasks.build_tasks(
        [rtd.NAME], vocabulary_size, MAX_SEQ_LENGTH, task_settings=settings
    )[0]


def one_batch(task, corpus_path, tokenizer, batch_size=4):
    tokenized = tokenize_corpus(read_corpus(corpus_path), tokenizer)
    dataset, _ = pretraining_dataset(
        tokenized, [task], max_seq_length=MAX_SEQ_LENGTH, batch_size=batch_size, seed=0
    )
    return next(iter(dataset))


def test_replaced_positions_are_labeled_1_unchanged_samples_0_and_padding_slots_ignored():
    token_ids = np.array([[2, 10, 11, 12, 13, 3, 0, 0], [2, 20, 21, 3, 0, 0, 0, 0]])
    positions = np.array([[1, 3, 0], [2, 0, 0]])
    original_ids = np.array([[10, 12, 0], [21, 0, 0]])
    weights = np.array([[1, 1, 0], [1, 0, 0]], np.float32)
    # Row 0: position 1 gets another token, position 3 its own; the padding slot's sample (at
    # position 0, [CLS]) must go nowhere. Row 1: position 2 is replaced.
    samples = np.array([[40, 12, 99], [45, 98, 97]])
    corrupted, labels = rtd.replace_tokens(token_ids, positions, original_ids, weights, samples)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(corrupted),
        [[2, 40, 11, 12, 13, 3, 0, 0], [2, 20, 45, 3, 0, 0, 0, 0]],
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(labels),
        [[0, 1, 0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0, 0]],
    )


def test_preprocess_masks_real_tokens_with_mask_or_keeps_them(corpus_path, tiny_tokenizer):
    task = build_task(tiny_tokenizer.vocabulary_size, max_predictions_per_seq=4, mask_rate=0.5)
    batch = {
        key: value.numpy() for key, value in one_batch(task, corpus_path, tiny_tokenizer).items()
    }
    weights = batch[rtd.WEIGHTS]
    assert weights.shape[1] == 4 and weights.sum() > 0
    rows, slots = np.nonzero(weights)
    positions = batch[rtd.POSITIONS][rows, slots]
    originals = batch[rtd.ORIGINAL_IDS][rows, slots]
    at_positions = batch["token_ids"][rows, positions]
    assert np.all(batch["padding_mask"][rows, positions] == 1)
    assert not np.isin(originals, list(SPECIAL.all())).any()
    # ELECTRA's generator input: [MASK] or the token itself, never a random one.
    assert np.all((at_positions == SPECIAL.mask) | (at_positions == originals))
    assert (at_positions == SPECIAL.mask).any()


@pytest.fixture
def tiny_model(tiny_tokenizer, tiny_backbone_config_factory):
    def make(backbone_name, **settings):
        task = build_task(tiny_tokenizer.vocabulary_size, **settings)
        backbone = backbones.build(backbone_name, tiny_backbone_config_factory(backbone_name))
        return task, PretrainingModel(backbone, [task])

    return make


@pytest.mark.parametrize("backbone_name", BACKBONE_NAMES)
def test_the_backbone_reads_the_generators_samples_and_labels_mark_each_change(
    backbone_name, tiny_model, corpus_path, tiny_tokenizer
):
    task, model = tiny_model(backbone_name, mask_rate=0.5)
    batch = one_batch(task, corpus_path, tiny_tokenizer, batch_size=8)
    model(batch)
    inputs = {key: batch[key] for key in ("token_ids", "segment_ids", "padding_mask")}
    corrupted, with_draws = task.rewrite_backbone_inputs(model.heads[task.name], inputs, batch)
    numpy = {key: value.numpy() for key, value in batch.items()}
    original = numpy["token_ids"].copy()
    rows, slots = np.nonzero(numpy[rtd.WEIGHTS])
    original[rows, numpy[rtd.POSITIONS][rows, slots]] = numpy[rtd.ORIGINAL_IDS][rows, slots]
    corrupted_ids = corrupted["token_ids"].numpy()
    labels = with_draws[rtd.LABELS].numpy()
    np.testing.assert_array_equal(labels, (corrupted_ids != original).astype(np.int32))
    assert labels.sum() > 0
    assert np.all(labels[numpy["padding_mask"] == 0] == 0)
    # The backbone reads samples where the generator read [MASK] (an untrained generator
    # samples [MASK] itself 1 time in V).
    masks = numpy["token_ids"] == SPECIAL.mask
    assert masks.any() and (corrupted_ids[masks] != SPECIAL.mask).mean() > 0.8
    assert corrupted["segment_ids"] is inputs["segment_ids"]
    assert with_draws[rtd.GENERATOR_LOGITS].shape == (8, 20, tiny_tokenizer.vocabulary_size)


def test_loss_weighs_the_discriminator_and_ignores_padding():
    task = build_task(30, discriminator_loss_weight=10.0, max_predictions_per_seq=2)
    rng = np.random.default_rng(0)
    padding_mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], np.int32)
    labels = np.array([[0, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0]], np.int32)
    logits = rng.normal(size=(2, 6)).astype(np.float32)
    batch = {
        "padding_mask": padding_mask,
        rtd.ORIGINAL_IDS: np.array([[7, 0], [8, 9]], np.int32),
        rtd.WEIGHTS: np.array([[1, 0], [1, 1]], np.float32),
    }
    generator_logits = rng.normal(size=(2, 2, 30)).astype(np.float32)

    def metrics_of(discriminator_logits):
        output = {
            "generator_logits": generator_logits,
            "discriminator_logits": discriminator_logits,
            "labels": labels,
        }
        loss, metrics = task.loss_and_metrics(output, batch)
        return float(loss), {key: float(value) for key, value in metrics.items()}

    loss, metrics = metrics_of(logits)
    real = padding_mask == 1
    probabilities = 1 / (1 + np.exp(-logits[real]))
    expected = -np.mean(
        labels[real] * np.log(probabilities) + (1 - labels[real]) * np.log(1 - probabilities)
    )
    assert metrics["discriminator_loss"] == pytest.approx(expected, rel=1e-4)
    assert loss == pytest.approx(metrics["generator_loss"] + 10.0 * expected, rel=1e-4)
    assert metrics["replaced_share"] == pytest.approx(3 / 10)
    assert metrics["accuracy"] == pytest.approx(np.mean((logits[real] > 0) == labels[real]))
    assert set(metrics) == set(task.metric_names)
    noisy = logits.copy()
    noisy[~real] = 50.0  # confidently wrong, but on padding
    assert metrics_of(noisy)[0] == pytest.approx(loss, rel=1e-5)
    wrong = logits.copy()
    wrong[1, 2] = -50.0  # confidently wrong on a replaced token
    assert metrics_of(wrong)[1]["discriminator_loss"] > expected + 1.0


@pytest.mark.parametrize("backbone_name", BACKBONE_NAMES)
def test_the_generator_shares_the_backbones_embeddings_at_a_fraction_of_its_width(
    backbone_name, tiny_model, corpus_path, tiny_tokenizer
):
    task, model = tiny_model(backbone_name, generator_width_fraction=0.5)
    batch = one_batch(task, corpus_path, tiny_tokenizer)
    generator = model.heads[task.name].generator
    assert generator.embeddings is model.backbone.embeddings
    assert generator.lm_head.token_embedding is model.backbone.token_embedding
    assert len(generator.blocks) == len(model.backbone.blocks)
    with tf.GradientTape() as tape:
        _, metrics = model.loss_and_metrics(batch, training=True)
        discriminator_loss = metrics[f"{task.name}_discriminator_loss"]
    assert tuple(generator.projection.kernel.shape) == (16, 8)  # hidden 16, half of it
    # No gradient flows through the sampling: the discriminator's loss reaches the shared
    # embeddings, not the generator's own weights.
    own = [v for v in generator.weights if not any(v is w for w in model.backbone.weights)]
    gradients = tape.gradient(discriminator_loss, own + [model.backbone.token_embedding.embeddings])
    assert all(g is None for g in gradients[:-1])
    assert gradients[-1] is not None


def test_settings_are_checked_and_masked_lm_is_not_combined_with_it():
    with pytest.raises(InputError, match="generator_width_fraction=0"):
        build_task(30, generator_width_fraction=0.0)
    with pytest.raises(InputError, match="discriminator_loss_weight=-1"):
        build_task(30, discriminator_loss_weight=-1.0)
    with pytest.raises(InputError, match="mask_rate=1.5"):
        build_task(30, mask_rate=1.5)
    with pytest.raises(InputError, match="masked_lm and replaced_token_detection"):
        pretrain_tasks.build_tasks(["masked_lm", rtd.NAME], 30, MAX_SEQ_LENGTH)
    assert pretrain_tasks.build_tasks([rtd.NAME, "next_sentence"], 30, MAX_SEQ_LENGTH)


def test_a_backbone_without_declared_embeddings_is_refused():
    backbone = types.SimpleNamespace(
        name="bare", embeddings=None, blocks=[], token_embedding=keras.layers.Embedding(30, 8)
    )
    with pytest.raises(InputError, match="'bare' declares no `embeddings`"):
        build_task(30).build_head(backbone)


# End to end: pretraining on the shipped sample, fine-tuning from the bundle, resuming.


def electra_config(directory, backbone_name, **changes):
    corpus = support.write_subset(os.path.join(directory, "corpus.txt"), "corpus.txt", 200)
    settings = dict(
        corpus=corpus,
        output_dir=os.path.join(directory, "bundle"),
        backbone=backbone_name,
        backbone_overrides=tiny_overrides(backbone_name),
        tasks=(rtd.NAME,),
        task_settings={"max_predictions_per_seq": 5},
        vocab_size=200,
        max_seq_length=32,
        batch_size=8,
        num_train_steps=100,
        learning_rate=0.02,
        checkpoint_every=0,
        log_every=1000,
    )
    settings.update(changes)
    return PretrainConfig(**settings)


@pytest.fixture(scope="module")
def electra_bundles(tmp_path_factory):
    """A tiny bundle of each backbone pretrained 100 steps with replaced-token detection, and
    the training summary."""
    runs = {}
    for name in BACKBONE_NAMES:
        config = electra_config(str(tmp_path_factory.mktemp(f"electra_{name}")), name)
        runs[name] = (config, run_pretraining(config))
    return runs


def detection_scores(config):
    """The bundle's discriminator on a fresh batch: mean P(replaced) on the replaced tokens and
    on the original ones. Loads the heads file, so the generator must be in it."""
    bundle_config = bundle.read_bundle_config(config.output_dir)
    tokenizer = bundle.load_tokenizer(config.output_dir, bundle_config)
    backbone = backbones.build(
        bundle_config["backbone"]["name"], bundle_config["backbone"]["config"]
    )
    task = pretrain_tasks.build_tasks(
        [rtd.NAME], tokenizer.vocabulary_size, 32, task_settings={"max_predictions_per_seq": 5}
    )[0]
    model = PretrainingModel(backbone, [task])
    dataset, _ = pretraining_dataset(
        tokenize_corpus(read_corpus(config.corpus), tokenizer),
        [task],
        max_seq_length=32,
        batch_size=64,
        seed=1,
    )
    batch = next(iter(dataset))
    model(batch)
    weights_file.load_weights(
        os.path.join(config.output_dir, bundle.BACKBONE_WEIGHTS_FILE), backbone.weights
    )
    weights_file.load_weights(
        os.path.join(config.output_dir, bundle.HEADS_WEIGHTS_FILE), model.head_variables()
    )
    output = model(batch)[rtd.NAME]
    probability = tf.sigmoid(output["discriminator_logits"]).numpy()
    labels, real = output["labels"].numpy(), batch["padding_mask"].numpy() == 1
    return probability[real & (labels == 1)].mean(), probability[real & (labels == 0)].mean()


@pytest.mark.slow
@pytest.mark.parametrize("backbone_name", BACKBONE_NAMES)
def test_pretraining_writes_a_bundle_and_the_discriminator_learns(electra_bundles, backbone_name):
    config, summary = electra_bundles[backbone_name]
    figures = summary["tasks"][rtd.NAME]
    assert figures["start_discriminator_loss"] == pytest.approx(np.log(2), abs=0.02)
    assert figures["end_discriminator_loss"] < figures["start_discriminator_loss"] - 0.1
    assert figures["end_generator_loss"] < figures["start_generator_loss"]
    assert 0.05 < figures["end_replaced_share"] < 0.3
    heads = weights_file.read_weights(os.path.join(config.output_dir, bundle.HEADS_WEIGHTS_FILE))
    backbone_file = weights_file.read_weights(
        os.path.join(config.output_dir, bundle.BACKBONE_WEIGHTS_FILE)
    )
    assert any("/generator/" in path for path in heads)
    assert not any("generator" in path for path in backbone_file)
    # Beyond the share of replacements: a replaced token looks more replaced than an original
    # one (about 0.166 against 0.155 when this was written; the tiny generator soon samples
    # by token frequency, so context is what tells them apart).
    replaced, original = detection_scores(config)
    assert replaced > original + 0.005, (replaced, original)


@pytest.mark.slow
@pytest.mark.parametrize("backbone_name", BACKBONE_NAMES)
def test_fine_tuning_starts_from_the_discriminator(electra_bundles, backbone_name, tmp_path):
    config, _ = electra_bundles[backbone_name]
    result = run_finetuning(
        FinetuneConfig(
            **support.labeled_files(tmp_path / "labeled", train=48, valid=16, test=16),
            output_dir=str(tmp_path / "finetuned"),
            init_checkpoint=config.output_dir,
            epochs=1,
            batch_size=8,
            max_seq_length=32,
        )
    )
    saved = weights_file.read_weights(os.path.join(config.output_dir, bundle.BACKBONE_WEIGHTS_FILE))
    assert result["restored"]["weights"] == len(saved)
    assert result["arm"] == "pretrained"
    assert 0 <= result["test"]["micro_f1"] <= 1


class Interrupted(Exception):
    """Stands in for a crash in the middle of training."""


@pytest.mark.slow
def test_resume_restores_the_generator(tmp_path):
    """A run that crashes after step 4 (checkpoint at step 3) resumes with the generator of
    step 3, not a fresh one."""
    config = electra_config(
        str(tmp_path), "transformer", num_train_steps=6, checkpoint_every=3, learning_rate=0.05
    )
    generator_at = {}

    def generator_weights(trainer):
        return [v.numpy().copy() for v in trainer.model.heads[rtd.NAME].generator.weights]

    class RecordingTrainer(pretraining.Trainer):
        crash_after = 4

        def restore(self):
            generator_at["fresh"] = generator_weights(self)
            step = super().restore()
            generator_at[f"restored_{step}"] = generator_weights(self)
            return step

        def train(self, dataset, num_steps, *, on_step=None, **kwargs):
            def record(step, metrics):
                generator_at.setdefault(f"step_{step}", generator_weights(self))
                if step == self.crash_after:
                    raise Interrupted(step)

            return super().train(dataset, num_steps, on_step=record, **kwargs)

    original = pretraining.Trainer
    pretraining.Trainer = RecordingTrainer
    try:
        with pytest.raises(Interrupted):
            run_pretraining(config)
        RecordingTrainer.crash_after = None
        run_pretraining(config)
    finally:
        pretraining.Trainer = original
    assert "restored_3" in generator_at
    changed = [
        not np.array_equal(a, b) for a, b in zip(generator_at["fresh"], generator_at["step_3"])
    ]
    assert sum(changed) > len(changed) // 2  # training moved the generator
    for restored, saved in zip(generator_at["restored_3"], generator_at["step_3"]):
        np.testing.assert_array_equal(restored, saved)
