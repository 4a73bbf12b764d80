"""Tests for bert_tf.prediction: how decisions are printed, probabilities on a saved model, and
the stream of output lines, batch by batch."""

import finetuning_support as support
import numpy as np
import pytest

from bert_tf.errors import InputError
from bert_tf.export import ExportConfig, export_classifier
from bert_tf.metrics import decide_labels
from bert_tf.prediction import (
    ClassifierPredictor,
    ExportPredictor,
    format_predictions,
    load_predictor,
    predict_lines,
    predict_probabilities,
)

LABELS = ["audio", "science", "gui"]
THRESHOLDS = [0.5, 0.45, 0.55]


def parse(line):
    """`a:0.900\tc:0.600` -> [("a", 0.9), ("c", 0.6)]."""
    pairs = [item.rsplit(":", 1) for item in line.split("\t")]
    return [(name, float(value)) for name, value in pairs]


def format_decided(probabilities, labels, thresholds, top_k=0):
    """`format_predictions` of the labels `metrics.decide_labels` decides."""
    decided = decide_labels(probabilities, np.asarray(thresholds, np.float32))
    return format_predictions(probabilities, decided, labels, top_k)


def test_labels_at_or_above_the_threshold_most_probable_first():
    probabilities = np.array([[0.6, 0.2, 0.9], [0.55, 0.95, 0.7]], np.float32)
    lines = format_decided(probabilities, ["a", "b", "c"], 0.5)
    assert lines == ["c:0.900\ta:0.600", "b:0.950\tc:0.700\ta:0.550"]


def test_a_probability_equal_to_the_threshold_is_chosen():
    probabilities = np.array([[0.25, 0.8]], np.float32)
    assert format_decided(probabilities, ["a", "b"], np.float32(0.25)) == ["b:0.800\ta:0.250"]


def test_top1_is_printed_even_below_every_threshold():
    probabilities = np.array([[0.1, 0.3, 0.2], [0.01, 0.02, 0.03]], np.float32)
    assert format_decided(probabilities, ["a", "b", "c"], 0.5) == ["b:0.300", "c:0.030"]


def test_per_label_thresholds_are_honoured():
    probabilities = np.array([[0.9, 0.2, 0.6]], np.float32)
    # Globally 0.5 gives a and c; per label, b's low threshold admits b and c's high one
    # keeps c out.
    assert format_decided(probabilities, ["a", "b", "c"], 0.5) == ["a:0.900\tc:0.600"]
    assert format_decided(probabilities, ["a", "b", "c"], [0.5, 0.1, 0.7]) == ["a:0.900\tb:0.200"]


def test_no_rows_no_lines():
    assert format_decided(np.zeros((0, 3), np.float32), ["a", "b", "c"], 0.5) == []


def test_top_k_prints_the_k_most_probable_whatever_the_thresholds():
    probabilities = np.array([[0.6, 0.2, 0.9], [0.01, 0.02, 0.03]], np.float32)
    labels = ["a", "b", "c"]
    # Thresholds of 0.1 would decide a and c on row 0; top_k=1 keeps c only.
    assert format_decided(probabilities, labels, 0.1, top_k=1) == ["c:0.900", "c:0.030"]
    # Below every threshold, top_k=2 still prints two labels.
    assert format_decided(probabilities, labels, 0.5, top_k=2) == [
        "c:0.900\ta:0.600",
        "c:0.030\tb:0.020",
    ]
    # k beyond the number of labels prints them all.
    assert format_decided(probabilities, labels, 0.5, top_k=5)[0] == "c:0.900\ta:0.600\tb:0.200"
    with pytest.raises(ValueError, match="top_k"):
        format_decided(probabilities, labels, 0.5, top_k=-1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """An untrained tiny classifier saved as fine-tuning saves one (training is not what
    prediction is about)."""
    directory = tmp_path_factory.mktemp("prediction") / "model"
    return support.make_untrained_classifier(directory, LABELS, THRESHOLDS)


@pytest.fixture(scope="module")
def classifier(model_dir):
    return ClassifierPredictor(model_dir)


@pytest.fixture(scope="module")
def texts():
    """Seven texts of the sample's test file, one of them short, one empty, one longer than
    max_seq_length (32: truncated)."""
    texts = [line.split("__label__")[0].strip() for line in support.read_lines("test.txt", 7)]
    texts[3] = "short"
    texts[4] = ""
    texts[5] = "word " * 5000
    return texts


def test_predictions_do_not_depend_on_the_batch_size(classifier, texts):
    model, tokenizer = classifier.model, classifier.tokenizer
    one_batch = predict_probabilities(model, tokenizer, texts, 32, batch_size=64)
    small_batches = predict_probabilities(model, tokenizer, texts, 32, batch_size=2)
    assert one_batch.shape == (7, len(LABELS))
    np.testing.assert_allclose(one_batch, small_batches, rtol=1e-5, atol=1e-6)
    # Rows are the texts in order: text 3 alone gives row 3.
    alone = predict_probabilities(model, tokenizer, [texts[3]], 32)
    np.testing.assert_allclose(alone[0], one_batch[3], rtol=1e-5, atol=1e-6)


def test_predict_lines_gives_one_line_per_text_in_order_whatever_the_batches(classifier, texts):
    five = texts[:5]  # batches of 2, 2 and 1
    in_pairs = list(predict_lines(five, classifier, batch_size=2))
    at_once = list(predict_lines(five, classifier, batch_size=64))
    one_by_one = list(predict_lines(five, classifier, batch_size=1))
    assert len(in_pairs) == 5
    assert in_pairs == at_once == one_by_one

    probabilities = predict_probabilities(classifier.model, classifier.tokenizer, five, 32)
    for line, row in zip(in_pairs, probabilities):
        pairs = parse(line)
        names = [name for name, _ in pairs]
        assert names and set(names) <= set(LABELS), line
        assert names[0] == LABELS[int(np.argmax(row))]  # top-1 first
        values = [value for _, value in pairs]
        assert values == sorted(values, reverse=True)
        for name, value in pairs:
            assert value == pytest.approx(row[LABELS.index(name)], abs=1e-3)
        chosen = {LABELS[j] for j in range(len(LABELS)) if row[j] >= THRESHOLDS[j]}
        assert set(names) == chosen | {names[0]}


def test_predict_lines_reads_one_batch_before_yielding_its_lines(classifier, texts):
    consumed = []

    def source():
        for text in texts[:5]:
            consumed.append(text)
            yield text

    read_when_yielded = [len(consumed) for _ in predict_lines(source(), classifier, batch_size=2)]
    # Lines 1-2 come after 2 texts are read, lines 3-4 after 4, line 5 after the end.
    assert read_when_yielded == [2, 2, 4, 4, 5]


def test_predict_lines_top_k(classifier, texts):
    decided = list(predict_lines(texts, classifier, batch_size=3))
    for k in (1, 2, 3):
        lines = list(predict_lines(texts, classifier, batch_size=3, top_k=k))
        assert [len(parse(line)) for line in lines] == [k] * len(texts)
        # The k most probable: the top-1 is the decided lines' first label.
        assert [parse(line)[0] for line in lines] == [parse(line)[0] for line in decided]


def test_predict_lines_of_no_text_yields_nothing_and_bad_arguments_fail_at_once(classifier):
    assert list(predict_lines([], classifier)) == []
    with pytest.raises(ValueError, match="batch_size"):
        predict_lines(["a"], classifier, batch_size=0)
    with pytest.raises(ValueError, match="top_k"):
        predict_lines(["a"], classifier, top_k=-2)


def test_an_export_predicts_what_its_model_directory_does(model_dir, classifier, texts, tmp_path):
    base = tmp_path / "exported"
    export_classifier(ExportConfig(model_dir=model_dir, export_dir=str(base / "1")))
    for directory in (base, base / "1"):  # the newest version, or one version
        exported = load_predictor(str(directory))
        assert isinstance(exported, ExportPredictor) and exported.labels == LABELS
        probabilities, decided = exported(texts)
        expected_probabilities, expected_decided = classifier(texts)
        np.testing.assert_allclose(probabilities, expected_probabilities, atol=1e-5)
        np.testing.assert_array_equal(decided, expected_decided)
    lines = list(predict_lines(texts, load_predictor(str(base)), batch_size=3, top_k=2))
    expected = list(predict_lines(texts, classifier, batch_size=3, top_k=2))
    assert [[name for name, _ in parse(line)] for line in lines] == [
        [name for name, _ in parse(line)] for line in expected
    ]
    assert isinstance(load_predictor(model_dir), ClassifierPredictor)


def test_a_corrupt_export_is_a_clean_error(tmp_path):
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "saved_model.pb").write_bytes(b"not a SavedModel")
    with pytest.raises(InputError, match="not a readable SavedModel"):
        load_predictor(str(tmp_path))
