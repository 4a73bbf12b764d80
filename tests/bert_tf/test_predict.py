"""Tests for bert_tf.predict: how decisions are printed, and the command on a saved model."""

import subprocess
import sys

import finetuning_support as support
import numpy as np
import pytest

from bert_tf.classifier_bundle import load_classifier
from bert_tf.predict import format_predictions, predict_probabilities

LABELS = ["audio", "science", "gui"]
THRESHOLDS = [0.5, 0.45, 0.55]


def parse(line):
    """`a:0.900\tc:0.600` -> [("a", 0.9), ("c", 0.6)]."""
    pairs = [item.rsplit(":", 1) for item in line.split("\t")]
    return [(name, float(value)) for name, value in pairs]


def test_labels_at_or_above_the_threshold_most_probable_first():
    probabilities = np.array([[0.6, 0.2, 0.9], [0.55, 0.95, 0.7]], np.float32)
    lines = format_predictions(probabilities, ["a", "b", "c"], 0.5)
    assert lines == ["c:0.900\ta:0.600", "b:0.950\tc:0.700\ta:0.550"]


def test_a_probability_equal_to_the_threshold_is_chosen():
    probabilities = np.array([[0.25, 0.8]], np.float32)
    assert format_predictions(probabilities, ["a", "b"], np.float32(0.25)) == ["b:0.800\ta:0.250"]


def test_top1_is_printed_even_below_every_threshold():
    probabilities = np.array([[0.1, 0.3, 0.2], [0.01, 0.02, 0.03]], np.float32)
    assert format_predictions(probabilities, ["a", "b", "c"], 0.5) == ["b:0.300", "c:0.030"]


def test_per_label_thresholds_are_honoured():
    probabilities = np.array([[0.9, 0.2, 0.6]], np.float32)
    # Globally 0.5 gives a and c; per label, b's low threshold admits b and c's high one
    # keeps c out.
    assert format_predictions(probabilities, ["a", "b", "c"], 0.5) == ["a:0.900\tc:0.600"]
    assert format_predictions(probabilities, ["a", "b", "c"], [0.5, 0.1, 0.7]) == [
        "a:0.900\tb:0.200"
    ]


def test_no_rows_no_lines():
    assert format_predictions(np.zeros((0, 3), np.float32), ["a", "b", "c"], 0.5) == []


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """An untrained tiny classifier saved as fine-tuning saves one (training is not what the
    command is about)."""
    directory = tmp_path_factory.mktemp("predict") / "model"
    return support.make_untrained_classifier(directory, LABELS, THRESHOLDS)


def test_predictions_do_not_depend_on_the_batch_size(saved_model):
    model, tokenizer, config = load_classifier(saved_model)
    texts = [line.split("__label__")[0] for line in support.read_lines("test.txt", 7)]
    texts[3] = "short"
    one_batch = predict_probabilities(model, tokenizer, texts, 32, batch_size=64)
    small_batches = predict_probabilities(model, tokenizer, texts, 32, batch_size=2)
    assert one_batch.shape == (7, len(LABELS))
    np.testing.assert_allclose(one_batch, small_batches, rtol=1e-5, atol=1e-6)
    # Rows are the texts in order: text 3 alone gives row 3.
    alone = predict_probabilities(model, tokenizer, [texts[3]], 32)
    np.testing.assert_allclose(alone[0], one_batch[3], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_command_prints_one_line_per_input_line(saved_model):
    texts = [line.split("__label__")[0].strip() for line in support.read_lines("test.txt", 4)]
    texts.insert(2, "")  # an empty input line still gets its output line
    texts.append("word " * 5000)  # longer than max_seq_length: truncated
    result = subprocess.run(
        [sys.executable, "-m", "bert_tf.predict", f"--model_dir={saved_model}"],
        input="\n".join(texts) + "\n",
        capture_output=True,
        text=True,
        timeout=300,
        cwd=support.ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert len(lines) == len(texts), result.stdout

    model, tokenizer, _ = load_classifier(saved_model)
    probabilities = predict_probabilities(model, tokenizer, texts, 32)
    for line, row in zip(lines, probabilities):
        pairs = parse(line)
        names = [name for name, _ in pairs]
        assert set(names) <= set(LABELS) and names, line
        assert names[0] == LABELS[int(np.argmax(row))]  # top-1 first
        values = [value for _, value in pairs]
        assert values == sorted(values, reverse=True)
        for name, value in pairs:
            assert value == pytest.approx(row[LABELS.index(name)], abs=1e-3)
        chosen = {LABELS[j] for j in range(len(LABELS)) if row[j] >= THRESHOLDS[j]}
        assert set(names) == chosen | {names[0]}
