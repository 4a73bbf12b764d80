"""Tests for benchmarks.tfidf_baseline: the benchmark's reference, on a slice of the sample."""

import finetuning_support as support
import numpy as np
import pytest

from benchmarks.tfidf_baseline import run_tfidf_baseline
from bert_tf import metrics
from bert_tf.labeled_data import LabelSet, read_labeled_file


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return support.labeled_files(tmp_path_factory.mktemp("tfidf"), train=200, valid=60, test=60)


def test_test_scores_follow_from_the_returned_probabilities_and_threshold(files):
    baseline = run_tfidf_baseline(files["train_file"], files["valid_file"], files["test_file"])
    test = read_labeled_file(files["test_file"])
    truth = LabelSet(baseline["labels"]).encode(test.labels)[0] > 0
    decided = metrics.decide_labels(baseline["test_probabilities"], baseline["threshold"])
    assert baseline["test_probabilities"].shape == (60, len(baseline["labels"]))
    assert metrics.multilabel_scores(truth, decided) == baseline["test"]
    # C is the best on valid among those tried.
    best = max(baseline["tried"], key=lambda t: t["valid_micro_f1"])
    assert baseline["c"] == best["c"]
    assert baseline["valid"]["micro_f1"] == best["valid_micro_f1"]


def test_fitting_labels_in_parallel_gives_the_same_model(files):
    one = run_tfidf_baseline(files["train_file"], files["valid_file"], files["test_file"])
    two = run_tfidf_baseline(files["train_file"], files["valid_file"], files["test_file"], jobs=2)
    assert two["c"] == one["c"] and two["threshold"] == one["threshold"]
    assert two["test_probabilities"] == pytest.approx(one["test_probabilities"], abs=1e-6)


def test_single_label_reference_scores_as_the_classifier_does(tmp_path):
    from sklearn.metrics import accuracy_score, f1_score

    from benchmarks.tfidf_baseline import run_tfidf_single_label_baseline

    files = {}
    for split, name, count in (("train", "train.txt", 200), ("valid", "valid.txt", 60)):
        lines = support.read_lines(name, count)
        path = tmp_path / f"{split}.txt"
        # Each line's first label only: a single-label set of topics.
        path.write_text(
            "".join(
                f"{line.split('__label__')[0]} __label__{first_label(line)}\n" for line in lines
            ),
            encoding="utf-8",
        )
        files[split] = str(path)
    (tmp_path / "test.txt").write_text("a new text __label__never::seen\n", encoding="utf-8")
    baseline = run_tfidf_single_label_baseline(files["train"], files["valid"], files["valid"])
    valid = read_labeled_file(files["valid"])
    predicted = [baseline["labels"][i] for i in baseline["test_probabilities"].argmax(axis=1)]
    truth = [labels[0] for labels in valid.labels]
    assert baseline["test"]["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert baseline["test"]["macro_f1"] == pytest.approx(
        f1_score(truth, predicted, average="macro")
    )
    assert baseline["test"]["accuracy"] > 0.5
    best = max(baseline["tried"], key=lambda t: t["valid_accuracy"])
    assert baseline["c"] == best["c"]
    # A test class the train file lacks counts as an error.
    unseen = run_tfidf_single_label_baseline(
        files["train"], files["valid"], str(tmp_path / "test.txt")
    )
    assert unseen["test"]["accuracy"] == 0.0


def first_label(line):
    return line.split("__label__")[1].split()[0]


def test_character_features_learn_text_without_spaces_between_words(tmp_path):
    # Japanese-like lines: no spaces, so each line is one "word" that no other line shares;
    # the label is told by one character in it.
    rng = np.random.default_rng(0)
    filler = list("のにはをたがでてとしれさあいうえおかきくけこ")
    clues = {"neko": "猫", "inu": "犬", "tori": "鳥"}
    paths = {}
    for split, count in (("train", 90), ("valid", 30), ("test", 30)):
        lines = []
        for i in range(count):
            label = list(clues)[i % 3]
            chars = list(rng.choice(filler, 12)) + [clues[label]]
            rng.shuffle(chars)
            lines.append(f"{''.join(chars)} __label__{label}\n")
        paths[split] = tmp_path / f"{split}.txt"
        paths[split].write_text("".join(lines), encoding="utf-8")
    files = [str(paths[s]) for s in ("train", "valid", "test")]
    characters = run_tfidf_baseline(*files, features="char")
    assert characters["features"] == "char"
    assert characters["test"]["micro_f1"] > 0.9
    # Words see nothing to learn from: every line is a word of its own.
    with pytest.raises(ValueError):
        run_tfidf_baseline(*files, features="word")
