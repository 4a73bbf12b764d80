"""Tests for bert_tf.finetuning: strict restore of the bundle's backbone, the no-pretrain arm,
metrics.json, the saved model, and a tiny end-to-end run that must learn something."""

import json
import os
import shutil
import types

import finetuning_support as support
import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from tiny_configs import tiny_overrides

import backbones
from bert_tf import bundle, distribution, finetuning, metrics, weights_file
from bert_tf.classification_data import encode_texts
from bert_tf.classifier_bundle import load_classifier
from bert_tf.epoch_evaluator import EpochEvaluator
from bert_tf.errors import InputError
from bert_tf.finetuning import FinetuneConfig, run_finetuning
from bert_tf.labeled_data import LabelSet, read_labeled_file
from bert_tf.prediction import predict_probabilities

BACKBONE_NAMES = sorted(backbones.BACKBONES)
EPOCHS = 2


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """A tiny pretrained bundle per registered backbone."""
    return {
        name: support.make_tiny_bundle(tmp_path_factory.mktemp(f"bundle_{name}"), name)
        for name in BACKBONE_NAMES
    }


@pytest.fixture(scope="module")
def labeled(tmp_path_factory):
    """100 train, 24 valid and 24 test lines; valid and test also hold labels train lacks."""
    files = support.labeled_files(tmp_path_factory.mktemp("labeled"))
    with open(files["valid_file"], "a", encoding="utf-8") as f:
        f.write("a tool nobody labeled before __label__never::seen\n")
        f.write("__label__never::seen another such tool __label__topic::audio\n")
    with open(files["test_file"], "a", encoding="utf-8") as f:
        f.write("a tool nobody labeled before __label__never::seen\n")
        f.write("yet another tool __label__also::unseen\n")
    return files


def config_for(bundle_dir, labeled, output_dir, **changes):
    settings = dict(
        labeled,
        output_dir=str(output_dir),
        init_checkpoint=bundle_dir,
        epochs=EPOCHS,
        batch_size=8,
        max_seq_length=32,
        learning_rate=1e-3,
    )
    settings.update(changes)
    return FinetuneConfig(**settings)


def backbone_from(config):
    texts = read_labeled_file(config.train_file).texts
    source, backbone, restored = finetuning.prepare_backbone(
        config, texts, distribution.get_strategy("default")
    )
    return source.tokenizer, source.name, backbone, restored


def bundle_weights(bundle_dir):
    return weights_file.read_weights(os.path.join(bundle_dir, bundle.BACKBONE_WEIGHTS_FILE))


@pytest.mark.parametrize("backbone_name", BACKBONE_NAMES)
def test_restored_backbone_equals_the_bundle(bundles, labeled, tmp_path, backbone_name):
    bundle_dir = bundles[backbone_name]
    tokenizer, name, backbone, restored = backbone_from(config_for(bundle_dir, labeled, tmp_path))
    saved = bundle_weights(bundle_dir)
    assert name == backbone_name
    assert sorted(v.path for v in backbone.weights) == sorted(saved)
    for variable in backbone.weights:
        np.testing.assert_array_equal(variable.numpy(), saved[variable.path], variable.path)
    assert restored["weights"] == len(backbone.weights) == len(saved)
    assert restored["parameters"] == backbone.count_params() == sum(a.size for a in saved.values())
    with open(os.path.join(bundle_dir, bundle.VOCABULARY_FILE), encoding="utf-8") as f:
        assert tokenizer.vocabulary == f.read().splitlines()


def copy_bundle(bundle_dir, tmp_path):
    copy = str(tmp_path / "bundle")
    shutil.copytree(bundle_dir, copy)
    return copy


def rewrite_weights(bundle_dir, arrays):
    """Writes `arrays` as the bundle's backbone weights (the weights_file layout, by hand) and
    records the new checksum, so only the content differs from a good bundle."""
    path = os.path.join(bundle_dir, bundle.BACKBONE_WEIGHTS_FILE)
    with h5py.File(path, "w") as f:
        group = f.create_group(weights_file.WEIGHTS_GROUP)
        for name, array in arrays.items():
            group.create_dataset(name, data=array)
    support.refresh_checksum(bundle_dir, bundle.BACKBONE_WEIGHTS_FILE)


def embedding_path(arrays):
    return next(name for name in sorted(arrays) if "token_embedding" in name)


@pytest.mark.parametrize("backbone_name", BACKBONE_NAMES)
def test_a_missing_backbone_weight_is_named(bundles, labeled, tmp_path, backbone_name):
    bundle_dir = copy_bundle(bundles[backbone_name], tmp_path)
    arrays = bundle_weights(bundle_dir)
    dropped = embedding_path(arrays)
    del arrays[dropped]
    rewrite_weights(bundle_dir, arrays)
    with pytest.raises(InputError, match="missing") as error:
        backbone_from(config_for(bundle_dir, labeled, tmp_path / "out"))
    assert dropped in str(error.value)
    assert bundle.BACKBONE_WEIGHTS_FILE in str(error.value)


@pytest.mark.parametrize("backbone_name", BACKBONE_NAMES)
def test_a_backbone_weight_of_another_shape_is_named(bundles, labeled, tmp_path, backbone_name):
    bundle_dir = copy_bundle(bundles[backbone_name], tmp_path)
    arrays = bundle_weights(bundle_dir)
    # The last weight in path order: not the one the missing-weight test drops.
    changed = sorted(arrays)[-1]
    arrays[changed] = np.zeros(
        arrays[changed].shape[:-1] + (arrays[changed].shape[-1] + 1,), arrays[changed].dtype
    )
    rewrite_weights(bundle_dir, arrays)
    with pytest.raises(InputError, match="shape") as error:
        backbone_from(config_for(bundle_dir, labeled, tmp_path / "out"))
    assert changed in str(error.value)


@pytest.mark.parametrize("backbone_name", BACKBONE_NAMES)
def test_an_extra_weight_in_the_bundle_is_an_error(bundles, labeled, tmp_path, backbone_name):
    bundle_dir = copy_bundle(bundles[backbone_name], tmp_path)
    arrays = bundle_weights(bundle_dir)
    arrays["stray/kernel"] = np.zeros((2, 2), np.float32)
    rewrite_weights(bundle_dir, arrays)
    with pytest.raises(InputError, match="stray/kernel"):
        backbone_from(config_for(bundle_dir, labeled, tmp_path / "out"))


@pytest.mark.parametrize("backbone_name", BACKBONE_NAMES)
def test_no_pretrain_arm_same_architecture_and_vocabulary_fresh_weights(
    bundles, labeled, tmp_path, backbone_name
):
    bundle_dir = bundles[backbone_name]
    pretrained_tokenizer, _, pretrained, _ = backbone_from(
        config_for(bundle_dir, labeled, tmp_path / "a")
    )
    tokenizer, name, fresh, restored = backbone_from(
        config_for(bundle_dir, labeled, tmp_path / "b", load_weights=False)
    )
    assert restored is None and name == backbone_name
    assert tokenizer.vocabulary == pretrained_tokenizer.vocabulary
    # The bundle's architecture; dropout is fine-tuning's own (0.1; the bundle was pretrained
    # without).
    saved_config = support.read_config(bundle_dir)["backbone"]["config"]
    assert saved_config["dropout"] == 0.0
    assert fresh.get_config() == pretrained.get_config() == dict(saved_config, dropout=0.1)
    shapes = {v.path: tuple(v.shape) for v in fresh.weights}
    assert shapes == {v.path: tuple(v.shape) for v in pretrained.weights}
    saved = bundle_weights(bundle_dir)
    embedding = embedding_path(saved)
    fresh_values = {v.path: v.numpy() for v in fresh.weights}
    assert not np.allclose(fresh_values[embedding], saved[embedding])
    different = [p for p in saved if not np.array_equal(fresh_values[p], saved[p])]
    assert len(different) > len(saved) // 2, different


@pytest.fixture(scope="module", params=BACKBONE_NAMES)
def finetuned(request, bundles, labeled, tmp_path_factory):
    """A 2-epoch run from each backbone's bundle: its results, output dir and in-memory model."""
    output_dir = tmp_path_factory.mktemp(f"finetuned_{request.param}")
    captured = {}
    original = finetuning.save_classifier

    def capture(directory, **kwargs):
        captured.update(kwargs)
        original(directory, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(finetuning, "save_classifier", capture)
        results = run_finetuning(config_for(bundles[request.param], labeled, output_dir))
    with open(os.path.join(output_dir, finetuning.METRICS_FILE), encoding="utf-8") as f:
        written = json.load(f)
    return dict(
        results=results,
        written=written,
        output_dir=str(output_dir),
        model=captured["model"],
        tokenizer=captured["tokenizer"],
        labeled=labeled,
        bundle=bundles[request.param],
        backbone_name=request.param,
    )


def test_metrics_json_has_history_and_scores(finetuned):
    written = finetuned["written"]
    assert written == json.loads(json.dumps(finetuned["results"]))
    history = written["history"]
    assert [entry["epoch"] for entry in history] == list(range(1, EPOCHS + 1))
    for entry in history:
        for key in ("train_loss", "valid_loss", "valid_micro_f1", "valid_macro_f1"):
            assert np.isfinite(entry[key]), (key, entry)
        assert entry["train_loss"] > 0 and entry["valid_loss"] > 0
        assert 0 <= entry["valid_micro_f1"] <= 1 and 0 <= entry["valid_macro_f1"] <= 1
    for split in ("valid", "test"):
        scores = written[split]
        for key in ("micro_f1", "macro_f1", "mean_f1", "precision", "recall"):
            assert 0 <= scores[key] <= 1, (split, key)
        assert scores["mean_f1"] == pytest.approx((scores["micro_f1"] + scores["macro_f1"]) / 2)
        assert 0.05 <= scores["threshold"] <= 0.95
    assert written["arm"] == "pretrained"
    assert written["restored"]["weights"] == len(bundle_weights(finetuned["bundle"]))
    assert written["steps"] == EPOCHS * 13  # ceil(100 / 8) steps per epoch


def test_without_pooling_flag_the_head_pools_as_its_backbone_declares(finetuned):
    expected = backbones.get(finetuned["backbone_name"]).DEFAULT_POOLING
    assert finetuned["written"]["config"]["pooling"] == expected
    assert finetuned["model"].pooling == expected
    saved, _, _ = load_classifier(os.path.join(finetuned["output_dir"], finetuning.MODEL_DIR))
    assert saved.pooling == expected


def test_unset_pooling_and_learning_rate_take_the_backbones_defaults_given_ones_stay():
    textcnn = backbones.get("textcnn")
    unset = finetuning._with_backbone_defaults(FinetuneConfig(), "textcnn")
    assert unset.pooling == textcnn.DEFAULT_POOLING
    assert unset.learning_rate == textcnn.DEFAULT_FINETUNE_LEARNING_RATE
    given = FinetuneConfig(pooling="pooled", learning_rate=2e-5)
    assert finetuning._with_backbone_defaults(given, "textcnn") == given


def test_scores_come_from_the_epoch_with_the_best_valid_mean_f1(finetuned):
    written = finetuned["written"]
    curve = [entry["valid_mean_f1"] for entry in written["history"]]
    best = int(np.argmax(curve))
    assert written["best_epoch"] == best + 1
    # The final threshold is tuned on the same valid probabilities as that epoch's.
    assert written["valid"]["micro_f1"] == pytest.approx(written["history"][best]["valid_micro_f1"])
    assert written["valid"]["mean_f1"] == pytest.approx(max(curve))
    kept = os.listdir(os.path.join(finetuned["output_dir"], "checkpoints"))
    assert [n for n in kept if n.startswith("best-epoch-")] == [
        f"best-epoch-{written['best_epoch']}.weights.h5"
    ]


def test_restore_best_loads_the_best_epochs_weights_and_drops_the_others(tmp_path):
    variable = keras.Variable(np.zeros(3, np.float32), name="kernel")
    model = types.SimpleNamespace(weights=[variable])
    valid = tf.data.Dataset.from_tensor_slices({"labels": np.zeros((2, 1), np.float32)}).batch(2)
    evaluator = EpochEvaluator(model, valid, np.zeros((2, 1)), str(tmp_path), steps_per_epoch=5)
    for epoch in (1, 2, 3):
        variable.assign(np.full(3, epoch, np.float32))
        weights_file.save_weights(evaluator.best_weights_path(epoch), [variable])
    evaluator.history = [
        {"epoch": e, "valid_mean_f1": f1} for e, f1 in ((1, 0.2), (2, 0.5), (3, 0.5), (4, 0.4))
    ]
    assert (evaluator.best_epoch, evaluator.last_epoch) == (2, 4)

    assert evaluator.restore_best() == 2
    np.testing.assert_array_equal(variable.numpy(), [2, 2, 2])
    assert os.listdir(tmp_path) == ["best-epoch-2.weights.h5"]


def test_the_evaluator_chooses_the_epoch_on_the_figure_it_is_given(tmp_path):
    valid = tf.data.Dataset.from_tensor_slices({"labels": np.zeros((2, 1), np.float32)}).batch(2)
    model = types.SimpleNamespace(weights=[])
    evaluator = EpochEvaluator(
        model, valid, np.zeros((2, 1)), str(tmp_path), 5, selection_metric="valid_mean_f1"
    )
    evaluator.history = [
        {"epoch": 1, "valid_micro_f1": 0.6, "valid_mean_f1": 0.3},
        {"epoch": 2, "valid_micro_f1": 0.5, "valid_mean_f1": 0.4},
    ]
    assert evaluator.best_epoch == 2


def test_a_resumed_evaluator_continues_the_history_on_disk(tmp_path):
    valid = tf.data.Dataset.from_tensor_slices({"labels": np.zeros((2, 1), np.float32)}).batch(2)
    model = types.SimpleNamespace(weights=[])
    history = [{"epoch": e, "valid_micro_f1": 0.1 * e} for e in (1, 2, 3)]
    (tmp_path / "history.json").write_text(json.dumps(history), encoding="utf-8")
    # Resumed at step 10 of 5 a epoch: epoch 3's entry came after that checkpoint.
    evaluator = EpochEvaluator(model, valid, np.zeros((2, 1)), str(tmp_path), 5, start_step=10)
    assert [entry["epoch"] for entry in evaluator.history] == [1, 2]


def test_labels_never_seen_in_train_are_counted(finetuned):
    assert finetuned["written"]["unseen_labels"] == {
        "valid": {"never::seen": 2},
        "test": {"never::seen": 1, "also::unseen": 1},
    }


def test_examples_cut_by_max_seq_length_are_counted_per_split(finetuned):
    truncated = finetuned["written"]["truncated_examples"]
    assert set(truncated) == {"train", "valid", "test"}
    max_seq_length = finetuned["written"]["config"]["max_seq_length"]
    for split, count in truncated.items():
        texts = read_labeled_file(finetuned["labeled"][f"{split}_file"]).texts
        lengths = finetuned["tokenizer"].tokenize(tf.constant(texts)).row_lengths().numpy()
        assert count == int(np.sum(lengths > max_seq_length - 2))


def test_saved_model_gives_the_in_memory_probabilities(finetuned):
    model, tokenizer, config = load_classifier(os.path.join(finetuned["output_dir"], "model"))
    test = read_labeled_file(finetuned["labeled"]["test_file"])
    train = read_labeled_file(finetuned["labeled"]["train_file"])
    label_set = LabelSet.from_examples(train.labels)
    assert config["classifier"]["labels"] == label_set.names
    assert config["classifier"]["thresholds"] == finetuned["written"]["valid"]["threshold"]
    assert tokenizer.vocabulary == finetuned["tokenizer"].vocabulary

    loaded = predict_probabilities(model, tokenizer, test.texts, config["max_seq_length"])
    in_memory = predict_probabilities(
        finetuned["model"], finetuned["tokenizer"], test.texts, config["max_seq_length"]
    )
    np.testing.assert_allclose(loaded, in_memory, rtol=1e-5, atol=1e-6)
    # The scores recomputed from the loaded model are the ones metrics.json reports.
    truth, _ = label_set.encode(test.labels)
    decided = metrics.decide_labels(loaded, config["classifier"]["thresholds"])
    scores = metrics.multilabel_scores(truth > 0, decided)
    assert scores["micro_f1"] == pytest.approx(finetuned["written"]["test"]["micro_f1"])
    assert np.mean(-(truth * np.log(loaded) + (1 - truth) * np.log(1 - loaded))) == pytest.approx(
        finetuned["written"]["test"]["loss"], rel=1e-3
    )
    assert encode_texts(test.texts, tokenizer, 32).shape[0] == len(test.texts)


def test_a_pretraining_bundle_is_not_a_fine_tuned_model(bundles):
    with pytest.raises(InputError, match="not a fine-tuned model"):
        load_classifier(bundles[BACKBONE_NAMES[0]])


def most_frequent_labels_baseline(train, test):
    """Test micro-F1 of predicting the k most frequent train labels for every line, with k the
    mean number of labels a train line has, rounded."""
    label_set = LabelSet.from_examples(train.labels)  # most frequent first
    k = round(np.mean([len(labels) for labels in train.labels]))
    truth, _ = label_set.encode(test.labels)
    predicted = np.zeros_like(truth, bool)
    predicted[:, :k] = True
    return metrics.multilabel_scores(truth > 0, predicted)["micro_f1"]


def priors_baseline(train, valid, test):
    """Test micro-F1 of giving every line the train label frequencies as probabilities, with
    the threshold tuned on valid: what a model that collapsed to the priors scores."""
    label_set = LabelSet.from_examples(train.labels)
    prior = label_set.encode(train.labels)[0].mean(axis=0)
    valid_truth, test_truth = label_set.encode(valid.labels)[0], label_set.encode(test.labels)[0]
    threshold = metrics.tune_threshold(np.tile(prior, (len(valid_truth), 1)), valid_truth > 0)
    decided = metrics.decide_labels(np.tile(prior, (len(test_truth), 1)), threshold)
    return metrics.multilabel_scores(test_truth > 0, decided)["micro_f1"]


@pytest.mark.slow
def test_tiny_run_on_the_sample_beats_the_frequency_baselines(tmp_path):
    files = support.labeled_files(tmp_path, train=300, valid=100, test=200)
    results = run_finetuning(
        FinetuneConfig(
            **files,
            output_dir=str(tmp_path / "out"),
            init_checkpoint="",
            backbone="transformer",
            backbone_overrides=dict(
                tiny_overrides("transformer"), hidden_dim=32, intermediate_dim=64
            ),
            vocab_size=300,
            pooling="mean",
            epochs=6,
            batch_size=8,
            max_seq_length=32,
            learning_rate=3e-3,
        )
    )
    train, valid, test = (read_labeled_file(files[f"{s}_file"]) for s in ("train", "valid", "test"))
    frequent = most_frequent_labels_baseline(train, test)
    priors = priors_baseline(train, valid, test)
    achieved = results["test"]["micro_f1"]
    assert achieved > frequent + 0.05, (achieved, frequent, results["history"])
    assert achieved > priors + 0.02, (achieved, priors, results["history"])
    assert results["arm"] == "no_bundle"


def test_rare_label_options_train_save_and_reload(bundles, labeled, tmp_path):
    """Mean-max pooling, the class-balanced loss and shrunk per-label thresholds run end to end
    (with --static_shapes), and the saved model predicts what the run scored."""
    config = config_for(
        bundles["transformer"],
        labeled,
        tmp_path,
        epochs=1,
        pooling="mean_max",
        loss="class_balanced",
        per_label_thresholds=True,
        threshold_shrinkage=5.0,
        static_shapes=True,
    )
    results = run_finetuning(config)
    model, tokenizer, saved = load_classifier(os.path.join(tmp_path, "model"))
    assert saved["classifier"]["pooling"] == "mean_max"
    assert len(saved["classifier"]["thresholds"]) == len(saved["classifier"]["labels"])
    test = read_labeled_file(labeled["test_file"])
    probabilities = predict_probabilities(model, tokenizer, test.texts, saved["max_seq_length"])
    truth, _ = LabelSet(saved["classifier"]["labels"]).encode(test.labels)
    decided = metrics.decide_labels(probabilities, saved["classifier"]["thresholds"])
    scores = metrics.multilabel_scores(truth > 0, decided)
    assert scores["micro_f1"] == pytest.approx(results["test"]["micro_f1"])


def test_unknown_loss_and_negative_shrinkage_are_input_errors(labeled, tmp_path):
    with pytest.raises(InputError, match="--loss=hinge"):
        config_for("", labeled, tmp_path, loss="hinge").validate()
    with pytest.raises(InputError, match="--threshold_shrinkage=-1"):
        config_for("", labeled, tmp_path, threshold_shrinkage=-1.0).validate()
