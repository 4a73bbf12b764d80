"""Tests for benchmarks.tfidf_baseline: the benchmark's reference, on a slice of the sample."""

import finetuning_support as support
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
