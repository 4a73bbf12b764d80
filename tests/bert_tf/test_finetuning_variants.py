"""Fine-tuning beyond multi-label on single texts (bert_tf.finetuning): single-label classes,
sentence pairs and frozen layers, end to end on every backbone; how the labeled files are
checked for them; and a pair task that a pretrained model learns."""

import os

import finetuning_support as support
import numpy as np
import pytest
from absl import logging

import backbones
from bert_tf import bundle, finetuning, freezing, layer_decay, problem_types, weights_file
from bert_tf.classifier import MultiLabelClassifier, SingleLabelClassifier
from bert_tf.classifier_bundle import load_classifier
from bert_tf.errors import InputError
from bert_tf.finetuning import FinetuneConfig, run_finetuning
from bert_tf.labeled_data import LabelSet, read_labeled_file
from bert_tf.prediction import ClassifierPredictor, predict_lines, predict_probabilities
from bert_tf.pretraining import PretrainConfig, run_pretraining

BACKBONE_NAMES = sorted(backbones.BACKBONES)
PAIR_SIZES = {"train": 64, "valid": 24, "test": 24}
PRETRAINING_DOCUMENTS = 1200  # of the sample corpus's 2,500; the pair task uses later ones
PRETRAINING_STEPS = 500


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """A tiny pretrained bundle per registered backbone."""
    return {
        name: support.make_tiny_bundle(tmp_path_factory.mktemp(f"bundle_{name}"), name)
        for name in BACKBONE_NAMES
    }


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory):
    """A small "is B the continuation of A?" task, `A<TAB>B __label__next|random`."""
    return support.write_continuation_pairs(
        tmp_path_factory.mktemp("pairs"), PAIR_SIZES, first_document=100
    )


def finetune(bundle_dir, files, output_dir, **changes):
    """Runs fine-tuning; returns its results and the model and tokenizer it saved."""
    captured = {}
    original = finetuning.save_classifier

    def capture(directory, **kwargs):
        captured.update(kwargs)
        original(directory, **kwargs)

    settings = dict(
        files,
        output_dir=str(output_dir),
        init_checkpoint=bundle_dir,
        epochs=2,
        batch_size=8,
        max_seq_length=32,
        learning_rate=3e-3,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(finetuning, "save_classifier", capture)
        results = run_finetuning(FinetuneConfig(**dict(settings, **changes)))
    return dict(results=results, output_dir=str(output_dir), **captured)


@pytest.fixture(scope="module", params=BACKBONE_NAMES)
def single_label_pairs(request, bundles, pair_files, tmp_path_factory):
    """Single-label, sentence pairs, embeddings frozen: a 2-epoch run per backbone."""
    run = finetune(
        bundles[request.param],
        pair_files,
        tmp_path_factory.mktemp(f"single_{request.param}"),
        problem_type="single_label",
        freeze="embeddings",
    )
    return dict(run, bundle=bundles[request.param], backbone_name=request.param)


def bundle_weights(bundle_dir):
    return weights_file.read_weights(os.path.join(bundle_dir, bundle.BACKBONE_WEIGHTS_FILE))


@pytest.mark.slow
def test_single_label_scores_accuracy_and_chooses_the_epoch_on_it(single_label_pairs):
    results = single_label_pairs["results"]
    curve = [entry["valid_accuracy"] for entry in results["history"]]
    assert all("valid_micro_f1" not in entry for entry in results["history"])
    assert results["best_epoch"] == int(np.argmax(curve)) + 1
    assert results["valid"]["accuracy"] == pytest.approx(max(curve))
    for split in ("valid", "test"):
        assert set(results[split]) == {"accuracy", "macro_f1", "loss"}
    confusion = results["test_confusion_matrix"]
    assert sorted(confusion["labels"]) == ["next", "random"]
    assert np.sum(confusion["matrix"]) == PAIR_SIZES["test"]
    assert np.trace(confusion["matrix"]) / PAIR_SIZES["test"] == pytest.approx(
        results["test"]["accuracy"]
    )
    assert {row["name"] for row in results["test_per_label"]} == {"next", "random"}
    assert results["config"]["problem_type"] == "single_label"
    assert isinstance(single_label_pairs["model"], SingleLabelClassifier)


@pytest.mark.slow
def test_frozen_weights_are_bit_identical_after_training(single_label_pairs):
    model = single_label_pairs["model"]
    saved = bundle_weights(single_label_pairs["bundle"])
    frozen = {
        w.path
        for layer in freezing.frozen_layers(model.backbone, "embeddings")
        for w in layer.weights
    }
    assert frozen and frozen == {w.path for w in model.backbone.weights if not w.trainable}
    for weight in model.backbone.weights:
        if weight.path in frozen:
            np.testing.assert_array_equal(weight.numpy(), saved[weight.path], weight.path)
    blocks = {w.path: w.numpy() for b in model.backbone.blocks for w in b.weights}
    changed = [p for p, value in blocks.items() if not np.array_equal(value, saved[p])]
    assert changed, "the blocks above the frozen embeddings did not train"
    counts = single_label_pairs["results"]["parameters"]
    assert counts["frozen_parameters"] == sum(saved[p].size for p in frozen)
    assert counts["trainable_parameters"] == sum(w.numpy().size for w in model.trainable_weights)


@pytest.mark.slow
def test_the_saved_pair_model_predicts_the_classes_it_was_scored_on(single_label_pairs, pair_files):
    model_dir = os.path.join(single_label_pairs["output_dir"], finetuning.MODEL_DIR)
    model, tokenizer, config = load_classifier(model_dir)
    classifier = config["classifier"]
    assert isinstance(model, SingleLabelClassifier)
    assert (classifier["problem_type"], classifier["text_pairs"]) == ("single_label", True)
    assert classifier["thresholds"] is None
    test = read_labeled_file(pair_files["test_file"])
    probabilities = predict_probabilities(model, tokenizer, test.texts, 32, 8, test.second_texts)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    truth = problem_types.get("single_label").truth(LabelSet(classifier["labels"]), test.labels)
    accuracy = np.mean(np.argmax(probabilities, axis=1) == truth.indices)
    assert accuracy == pytest.approx(single_label_pairs["results"]["test"]["accuracy"])

    lines = [f"{a}\t{b}" for a, b in zip(test.texts, test.second_texts)]
    predictor = ClassifierPredictor(model_dir)
    printed = list(predict_lines(lines, predictor, batch_size=5))
    assert [line.split(":")[0] for line in printed] == [
        classifier["labels"][i] for i in np.argmax(probabilities, axis=1)
    ]
    assert all("\t" not in line for line in printed)  # one class each
    with pytest.raises(InputError, match="input line 7: 1 tab-separated texts"):
        list(predict_lines(lines[:6] + ["no tab here"], predictor, batch_size=5))


@pytest.mark.slow
def test_multi_label_pairs_with_the_whole_backbone_frozen_train_only_the_head(
    bundles, pair_files, tmp_path
):
    bundle_dir = bundles["textcnn"]
    run = finetune(bundle_dir, pair_files, tmp_path, freeze="all_but_head", epochs=1)
    model, saved = run["model"], bundle_weights(bundle_dir)
    assert isinstance(model, MultiLabelClassifier) and run["text_pairs"]
    assert not model.backbone.trainable_weights
    for weight in model.backbone.weights:
        np.testing.assert_array_equal(weight.numpy(), saved[weight.path], weight.path)
    assert run["results"]["parameters"]["trainable_parameters"] == sum(
        w.numpy().size for w in model.output_layer.weights
    )
    assert "micro_f1" in run["results"]["test"] and "valid_micro_f1" in run["results"]["history"][0]


@pytest.mark.slow
def test_layer_decay_gives_the_optimizer_each_layers_share(bundles, pair_files, tmp_path):
    given = []
    original = finetuning.create_optimizer

    def capture(*args):
        given.append(args)
        return original(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(finetuning, "create_optimizer", capture)
        run = finetune(bundles["transformer"], pair_files, tmp_path, layer_decay=0.5, epochs=1)
    model, saved = run["model"], bundle_weights(bundles["transformer"])
    ((*_, multipliers),) = given
    assert multipliers == layer_decay.learning_rate_multipliers(model.backbone, 0.5)
    depth = len(model.backbone.blocks)
    assert set(multipliers.values()) == {0.5**power for power in range(1, depth + 2)}
    assert run["results"]["config"]["layer_decay"] == 0.5
    embeddings = [w for w in model.backbone.embeddings.weights if "token_embedding" in w.path]
    assert not np.array_equal(embeddings[0].numpy(), saved[embeddings[0].path])


def labeled_config(tmp_path, texts, **changes):
    files = {}
    for split in ("train", "valid", "test"):
        path = tmp_path / f"{split}.txt"
        path.write_text(texts.get(split, texts["train"]), encoding="utf-8")
        files[f"{split}_file"] = str(path)
    return FinetuneConfig(**files, output_dir=str(tmp_path / "out"), **changes)


def test_a_single_label_run_rejects_a_line_with_two_labels(tmp_path):
    config = labeled_config(
        tmp_path,
        {
            "train": "a __label__x\nb __label__y\n",
            "test": "c __label__x\nd __label__x __label__y\n",
        },
        problem_type="single_label",
    )
    with pytest.raises(InputError, match=r"test.txt:2: 2 labels \(x, y\)"):
        finetuning.read_labeled_data(config)


def test_a_multi_label_run_on_one_label_a_line_suggests_single_label(tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(logging, "warning", lambda message, *args: warnings.append(message % args))
    config = labeled_config(tmp_path, {"train": "a __label__x\nb __label__y\n"})
    finetuning.read_labeled_data(config)
    assert any("--problem_type=single_label (softmax, accuracy) may be" in w for w in warnings)


def test_unseen_valid_classes_are_logged_as_errors_in_a_single_label_run(tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(logging, "warning", lambda message, *args: warnings.append(message % args))
    texts = {"train": "a __label__x\nb __label__y\n", "valid": "c __label__z\n"}
    finetuning.read_labeled_data(labeled_config(tmp_path, texts, problem_type="single_label"))
    (warning,) = warnings
    assert "valid.txt: 1 label occurrences" in warning and "count as errors: z" in warning


def test_pairs_in_one_file_and_single_texts_in_another_are_an_error(tmp_path):
    config = labeled_config(
        tmp_path, {"train": "a\tb __label__x\nc\td __label__y\n", "valid": "a b __label__x\n"}
    )
    with pytest.raises(InputError, match=r"valid.txt: single texts, but the train file"):
        finetuning.read_labeled_data(config)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(problem_type="regression"), "--problem_type=regression"),
        (dict(freeze="bottom:two"), "--freeze=bottom:two"),
        (dict(layer_decay=0.0), "--layer_decay=0.0: expected a number above 0"),
        (
            dict(problem_type="single_label", per_label_thresholds=True),
            "--per_label_thresholds: a multi_label setting",
        ),
        (
            dict(problem_type="single_label", threshold_shrinkage=5.0),
            "--threshold_shrinkage=5.0: a multi_label setting",
        ),
        (dict(problem_type="single_label", loss="focal"), "--loss=focal: a multi_label setting"),
    ],
)
def test_settings_no_run_can_use_are_named(tmp_path, changes, message):
    with pytest.raises(InputError, match=message):
        labeled_config(tmp_path, {"train": "a __label__x\n"}, **changes).validate()


@pytest.mark.slow
def test_a_pretrained_model_learns_a_sentence_pair_task(tmp_path):
    """ "Is B the continuation of A?" on documents pretraining never saw: a Transformer
    pretrained with next-sentence prediction and masked LM (dropout 0.1) on the sample corpus
    beats chance clearly after 3 epochs on 300 pairs, through the pooled output that
    next-sentence prediction trained."""
    corpus = tmp_path / "corpus.txt"
    documents = support.corpus_documents()
    corpus.write_text(
        "\n\n".join("\n".join(d) for d in documents[:PRETRAINING_DOCUMENTS]) + "\n",
        encoding="utf-8",
    )
    summary = run_pretraining(
        PretrainConfig(
            corpus=str(corpus),
            output_dir=str(tmp_path / "bundle"),
            backbone="transformer",
            backbone_overrides=dict(
                hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64, dropout=0.1
            ),
            tasks=("masked_lm", "next_sentence"),
            vocab_size=400,
            max_seq_length=32,
            batch_size=32,
            num_train_steps=PRETRAINING_STEPS,
            learning_rate=5e-3,
            checkpoint_every=10_000,
            log_every=10_000,
        )
    )
    files = support.write_continuation_pairs(
        tmp_path / "pairs",
        {"train": 300, "valid": 100, "test": 200},
        first_document=PRETRAINING_DOCUMENTS,
    )
    results = run_finetuning(
        FinetuneConfig(
            **files,
            output_dir=str(tmp_path / "finetuned"),
            init_checkpoint=str(tmp_path / "bundle"),
            problem_type="single_label",
            pooling="pooled",
            epochs=3,
            batch_size=16,
            max_seq_length=32,
            learning_rate=1e-3,
        )
    )
    accuracy = results["test"]["accuracy"]
    # Chance is 0.5; over 200 pairs its standard deviation is 0.035.
    assert accuracy >= 0.65, (accuracy, summary["tasks"]["next_sentence"], results["history"])
