"""Tests for benchmarks.cluster_analysis: groups of near-identical lines and what they weigh."""

import json
import os
import sys

import finetuning_support as support
import numpy as np
import pytest

from benchmarks import cluster_analysis
from benchmarks.tfidf_baseline import run_tfidf_baseline
from bert_tf import metrics
from bert_tf.classifier_bundle import load_classifier
from bert_tf.labeled_data import LabelSet, read_labeled_file
from bert_tf.prediction import predict_probabilities

TEMPLATE = (
    "Data Plane Development Kit ({name} runtime library) DPDK is a set of libraries for fast "
    "packet processing. This package contains the runtime libraries for {name}."
)


def test_lines_of_one_template_form_one_group_and_the_largest_is_group_0():
    texts = [
        "a tiny text editor for the console",
        TEMPLATE.format(name="librte-net-af-packet"),
        "python bindings for the foo library",
        TEMPLATE.format(name="librte-table"),
        TEMPLATE.format(name="librte-baseband-null"),
        "python bindings for the foo library (python 3)",
        "an arcade game with penguins",
    ]
    groups = cluster_analysis.near_duplicate_groups(texts)
    assert groups[1] == groups[3] == groups[4] == 0
    assert groups[2] == groups[5] == 1  # the next largest, two lines
    others = [groups[0], groups[6]]
    assert len(set(others)) == 2 and not set(others) & {0, 1}
    assert sorted(set(groups)) == list(range(4))


def test_a_high_similarity_bar_splits_the_template_group():
    texts = [TEMPLATE.format(name=name) for name in ("librte-ring", "librte-table", "librte-timer")]
    assert len(set(cluster_analysis.near_duplicate_groups(texts, 0.8))) == 1
    assert len(set(cluster_analysis.near_duplicate_groups(texts, 1.0))) == 3


def test_a_model_wrong_only_on_a_big_group_scores_higher_when_groups_are_balanced():
    # Four lines of group 0, two single lines; every line has label 0 only.
    groups = np.array([0, 0, 0, 0, 1, 2])
    truth = np.zeros((6, 2), bool)
    truth[:, 0] = True
    decided = truth.copy()
    decided[:4] = [False, True]  # wrong on every line of group 0
    report = cluster_analysis.analyze(truth, {"m": decided}, groups, [f"t{i}" for i in range(6)])
    figures = report["models"]["m"]
    assert figures["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 8))
    # Balanced: group 0 weighs as one line (tp 2, wrong 4 * 2 / 4).
    assert figures["group_balanced_micro_f1"] == pytest.approx(4 / (4 + 2))
    assert figures["micro_f1_without_largest_group"] == 1.0
    assert figures["largest_groups_micro_f1"] == [0.0]  # only groups of 2+ lines are shown
    assert report["largest_groups"] == [{"group": 0, "lines": 4, "first_line": "t0"}]
    assert report["lines_in_groups_of_2_or_more"] == 4


def test_decisions_are_aligned_by_label_name():
    decided = np.array([[True, False, True]])
    aligned = cluster_analysis._align(decided, ["a", "b", "c"], ["c", "x", "a"])
    assert aligned.tolist() == [[True, False, True]]
    aligned = cluster_analysis._align(decided, ["a", "b", "c"], ["b", "a"])
    assert aligned.tolist() == [[False, True]]


@pytest.mark.slow
def test_command_scores_a_saved_model_and_the_tfidf_reference(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    files = support.labeled_files(data_dir, train=200, valid=60, test=60)
    train_labels = LabelSet.from_examples(read_labeled_file(files["train_file"]).labels).names
    # Reversed against the TF-IDF's column order, so a misalignment would change its score.
    labels = train_labels[::-1]
    run = tmp_path / "run"
    support.make_untrained_classifier(run / "model", labels, 0.5)
    out = tmp_path / "report"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "cluster_analysis",
            f"--data_dir={data_dir}",
            "--tfidf_train_file=train.txt",
            f"--out={out}",
            str(run),
        ],
    )
    cluster_analysis.main()

    with open(f"{out}.json", encoding="utf-8") as f:
        report = json.load(f)
    assert report["lines"] == 60 and set(report["models"]) == {"run", "tfidf_lr"}
    test = read_labeled_file(files["test_file"])
    truth = LabelSet(labels).encode(test.labels)[0] > 0
    model, tokenizer, config = load_classifier(str(run / "model"))
    probabilities = predict_probabilities(model, tokenizer, test.texts, 32)
    expected = metrics.multilabel_scores(truth, metrics.decide_labels(probabilities, 0.5))
    assert report["models"]["run"]["micro_f1"] == pytest.approx(expected["micro_f1"])
    baseline = run_tfidf_baseline(files["train_file"], files["valid_file"], files["test_file"])
    assert report["models"]["tfidf_lr"]["micro_f1"] == pytest.approx(baseline["test"]["micro_f1"])
    assert os.path.isfile(f"{out}.md")
