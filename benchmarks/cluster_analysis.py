"""Which groups of near-identical test lines decide a comparison of models.

    python -m benchmarks.cluster_analysis --data_dir=../shared/data/debian-tags \
        --tfidf_train_file=train_small.txt --out=docs/benchmarks/test_clusters \
        runs/benchmark/full/transformer_train_small_pretrained12000_lr0.001_s0 ...

A split made by origin (package, author, site) can hold many near-identical lines of one
origin, and a model that errs on such a group loses as if it erred on that many independent
examples. This finds the groups (lines sharing most of their words, see
`near_duplicate_groups`), decides each model's labels with the thresholds it was saved with,
and reports for each model: micro-F1 on the split, micro-F1 with every group weighted as one
line (group-balanced), micro-F1 without the largest group, and micro-F1 on each of the largest
groups. It explains a result; it
chooses nothing, so running it on test tunes nothing. Needs the `benchmark` extra
(scikit-learn).
"""

import argparse
import json
import os
import sys

import numpy as np

from benchmarks.tfidf_baseline import run_tfidf_baseline
from bert_tf import metrics
from bert_tf.classifier_bundle import load_classifier
from bert_tf.labeled_data import LabelSet, read_labeled_file
from bert_tf.prediction import predict_probabilities

#: How a TF-IDF reference's decisions are named in the report.
TFIDF_NAME = "tfidf_lr"


def near_duplicate_groups(texts, min_similarity=0.8):
    """Group ids [N]: texts joined (transitively) when the cosine similarity of their word sets
    (shared words over the geometric mean of their sizes) reaches `min_similarity`. Word sets,
    not TF-IDF: lines from one template differ in a name or two, which TF-IDF weighs most.
    Group 0 is the largest; a text like no other is a group of its own."""
    from scipy.sparse.csgraph import connected_components
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize

    word_sets = normalize(CountVectorizer(binary=True).fit_transform(texts).astype(np.float64))
    similar = (word_sets @ word_sets.T) >= min_similarity
    _, component = connected_components(similar, directed=False)
    sizes = np.bincount(component)
    _, first_line = np.unique(component, return_index=True)
    # Renumber by decreasing size (ties by first line), so group 0 is the largest.
    order = np.lexsort((first_line, -sizes))
    renumber = np.empty(len(sizes), np.int64)
    renumber[order] = np.arange(len(sizes))
    return renumber[component]


def run_decisions(run_dir, texts):
    """A fine-tuning run's decisions [N, its labels] with its saved thresholds, and its label
    names in column order."""
    model, tokenizer, config = load_classifier(os.path.join(run_dir, "model"))
    probabilities = predict_probabilities(model, tokenizer, texts, config["max_seq_length"])
    classifier = config["classifier"]
    decided = metrics.decide_labels(probabilities, np.asarray(classifier["thresholds"]))
    return decided, classifier["labels"]


def tfidf_decisions(train_file, valid_file, test_file):
    """The TF-IDF + logistic-regression reference's test decisions, fitted and thresholded on
    valid exactly as the benchmark does, and its label names in column order."""
    baseline = run_tfidf_baseline(train_file, valid_file, test_file)
    decided = metrics.decide_labels(baseline["test_probabilities"], baseline["threshold"])
    return decided, baseline["labels"]


def _align(decided, names, label_names):
    """`decided`'s columns (named `names`) reordered to `label_names`; a missing one is False."""
    aligned = np.zeros((len(decided), len(label_names)), bool)
    column = {name: j for j, name in enumerate(names)}
    for j, name in enumerate(label_names):
        if name in column:
            aligned[:, j] = decided[:, column[name]]
    return aligned


def analyze(truth, decisions, groups, texts, largest=8):
    """The report's figures: per model, micro-F1 overall, group-balanced, without group 0 and
    on each of the `largest` groups (when bigger than one line).

    Args:
        truth: bool [N, L]. True labels.
        decisions: dict name -> bool [N, L]. Each model's decided labels.
        groups: int [N]. Group ids from `near_duplicate_groups`.
        texts: list[str]. The lines, to show the start of each large group's first one.
        largest: int. How many of the largest groups to break out.
    """
    sizes = np.bincount(groups)
    balanced = 1.0 / sizes[groups]
    shown = [g for g in range(min(largest, len(sizes))) if sizes[g] > 1]
    report = {
        "lines": len(texts),
        "groups": len(sizes),
        "lines_in_groups_of_2_or_more": int((sizes[groups] > 1).sum()),
        "largest_groups": [
            {
                "group": g,
                "lines": int(sizes[g]),
                "first_line": texts[int(np.argmax(groups == g))][:80],
            }
            for g in shown
        ],
        "models": {},
    }
    rest = groups != 0
    for name, decided in decisions.items():
        report["models"][name] = {
            "micro_f1": metrics.multilabel_scores(truth, decided)["micro_f1"],
            "group_balanced_micro_f1": metrics.weighted_micro_f1(truth, decided, balanced),
            "micro_f1_without_largest_group": metrics.multilabel_scores(truth[rest], decided[rest])[
                "micro_f1"
            ],
            "largest_groups_micro_f1": [
                metrics.multilabel_scores(truth[groups == g], decided[groups == g])["micro_f1"]
                for g in shown
            ],
        }
    return report


def markdown(report, command):
    """The report as markdown: each model's figures, then the largest groups (models by number)."""
    names = list(report["models"])
    lines = [
        "# Groups of near-identical lines and what they weigh",
        "",
        f"`{command}`",
        "",
        f"{report['lines']} lines in {report['groups']} groups of near-identical lines (sharing "
        f"most of their words); {report['lines_in_groups_of_2_or_more']} lines share a group "
        "with another. Each model decides with the thresholds it was saved with. "
        "Group-balanced micro-F1 weighs every line by 1 / its group's size, so a group counts "
        "as one line.",
        "",
        "| # | model | micro-F1 | group-balanced micro-F1 | micro-F1 without group 0 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for number, name in enumerate(names, start=1):
        figures = report["models"][name]
        lines.append(
            f"| {number} | {name} | {figures['micro_f1']:.4f} "
            f"| {figures['group_balanced_micro_f1']:.4f} "
            f"| {figures['micro_f1_without_largest_group']:.4f} |"
        )
    lines += ["", "Micro-F1 of each model (#) on the largest groups:", ""]
    numbers = " | ".join(f"#{number}" for number in range(1, len(names) + 1))
    lines.append(f"| group | lines | first line | {numbers} |")
    lines.append("| --- | --- | --- |" + " --- |" * len(names))
    for k, group in enumerate(report["largest_groups"]):
        scores = " | ".join(
            f"{report['models'][name]['largest_groups_micro_f1'][k]:.3f}" for name in names
        )
        first = group["first_line"].replace("|", "\\|")
        lines.append(f"| {group['group']} | {group['lines']} | {first} | {scores} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="fine-tuning output directories (with model/)")
    parser.add_argument("--data_dir", required=True, help="holds valid.txt and test.txt")
    parser.add_argument("--split", default="test.txt", help="the labeled file to analyze")
    parser.add_argument(
        "--tfidf_train_file",
        help="also analyze TF-IDF + logistic regression trained on this file of --data_dir",
    )
    parser.add_argument("--min_similarity", type=float, default=0.8)
    parser.add_argument("--out", help="path prefix: also writes <out>.json and <out>.md")
    args = parser.parse_args()

    split_file = os.path.join(args.data_dir, args.split)
    examples = read_labeled_file(split_file, "analyzed file")
    decisions = {
        os.path.basename(os.path.normpath(run)): run_decisions(run, examples.texts)
        for run in args.runs
    }
    if args.tfidf_train_file:
        decisions[TFIDF_NAME] = tfidf_decisions(
            os.path.join(args.data_dir, args.tfidf_train_file),
            os.path.join(args.data_dir, "valid.txt"),
            split_file,
        )
    # Every model is scored on the first run's labels, as its own fine-tuning scored it.
    label_names = next(iter(decisions.values()))[1]
    truth = LabelSet(label_names).encode(examples.labels)[0] > 0
    decisions = {
        name: _align(decided, names, label_names) for name, (decided, names) in decisions.items()
    }
    groups = near_duplicate_groups(examples.texts, args.min_similarity)
    report = analyze(truth, decisions, groups, examples.texts)
    command = " ".join(["python -m benchmarks.cluster_analysis", *sys.argv[1:]])
    text = markdown(report, command)
    print(text)
    if args.out:
        with open(args.out + ".json", "w", encoding="utf-8") as f:
            json.dump(dict(report, command=command), f, indent=2)
            f.write("\n")
        with open(args.out + ".md", "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
