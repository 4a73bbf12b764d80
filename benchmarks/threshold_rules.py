"""Which threshold rule decides labels best: one global threshold, or one per label shrunk
toward it by k (`metrics.tune_threshold`), scored on fine-tuned models and on TF-IDF + LR.

    python -m benchmarks.threshold_rules --data_dir=../shared/data/debian-tags \\
        --train_file=train_small.txt --out=docs/benchmarks/threshold_rules RUN_DIR [RUN_DIR ...]

A RUN_DIR is a finished `train_bert_fine_tuning.py` output directory (its `model/` is loaded
and predicts valid and test). A rule is chosen on valid only, by cross-fitting: thresholds tuned
on one half of valid are scored on the other half, both ways, over several random halvings.
Test is scored with thresholds tuned on the whole of valid, to show whether the choice holds.
"""

import argparse
import json
import os
import sys

import numpy as np

from bert_tf import metrics
from bert_tf.classifier_bundle import load_classifier
from bert_tf.labeled_data import LabelSet, read_labeled_file
from bert_tf.prediction import predict_probabilities

#: Rule name -> shrinkage k of per-label thresholds; None: one global threshold.
RULES = {
    "global": None,
    "per_label": 0.0,
    "per_label_k3": 3.0,
    "per_label_k10": 10.0,
    "per_label_k30": 30.0,
    "per_label_k100": 100.0,
}
SCORES = ("micro_f1", "macro_f1", "mean_f1")


def tune(probabilities, truth, shrinkage):
    if shrinkage is None:
        return metrics.tune_threshold(probabilities, truth)
    return metrics.tune_threshold(probabilities, truth, per_label=True, shrinkage=shrinkage)


def score(probabilities, truth, threshold):
    return metrics.multilabel_scores(truth, metrics.decide_labels(probabilities, threshold))


def cross_fitted(probabilities, truth, shrinkage, repeats=5, seed=0):
    """Mean scores of thresholds tuned on one half of the rows and scored on the other."""
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(repeats):
        order = rng.permutation(len(truth))
        halves = order[: len(order) // 2], order[len(order) // 2 :]
        for tuned_on, scored_on in (halves, halves[::-1]):
            threshold = tune(probabilities[tuned_on], truth[tuned_on], shrinkage)
            results.append(score(probabilities[scored_on], truth[scored_on], threshold))
    return {key: float(np.mean([r[key] for r in results])) for key in SCORES}


def evaluate(name, probabilities, truth):
    """Every rule's cross-fitted valid scores and its test scores, for one model."""
    rows = []
    for rule, shrinkage in RULES.items():
        threshold = tune(probabilities["valid"], truth["valid"], shrinkage)
        rows.append(
            dict(
                model=name,
                rule=rule,
                valid_cross_fitted=cross_fitted(probabilities["valid"], truth["valid"], shrinkage),
                test=score(probabilities["test"], truth["test"], threshold),
            )
        )
    return rows


def run_probabilities(run_dir, texts):
    """A fine-tuned run's valid and test probabilities (cached beside its model)."""
    cache = os.path.join(run_dir, "threshold_rules_probabilities.npz")
    if os.path.isfile(cache):
        return dict(np.load(cache))
    model, tokenizer, config = load_classifier(os.path.join(run_dir, "model"))
    probabilities = {
        split: predict_probabilities(model, tokenizer, texts[split], config["max_seq_length"])
        for split in ("valid", "test")
    }
    np.savez(cache, **probabilities)
    return probabilities


def markdown(rows, command):
    lines = [
        "# Threshold rules",
        "",
        f"`{command}`",
        "",
        "Valid: thresholds tuned on one half of valid and scored on the other (5 random "
        "halvings, both ways). Test: thresholds tuned on all of valid. Means over the models "
        "of each kind.",
        "",
        "| models | rule | valid micro | valid macro | valid mean | test micro | test macro | "
        "test mean |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    kinds = sorted({row["kind"] for row in rows})
    for kind in kinds:
        for rule in RULES:
            chosen = [r for r in rows if r["kind"] == kind and r["rule"] == rule]
            valid = [np.mean([r["valid_cross_fitted"][k] for r in chosen]) for k in SCORES]
            test = [np.mean([r["test"][k] for r in chosen]) for k in SCORES]
            lines.append(
                f"| {kind} ({len(chosen)}) | {rule} | "
                + " | ".join(f"{v:.4f}" for v in valid + test)
                + " |"
            )
    return "\n".join(lines) + "\n"


def _read_json(*path):
    with open(os.path.join(*path), encoding="utf-8") as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="Fine-tuning output directories.")
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--train_file", default="train_small.txt", help="For TF-IDF + LR.")
    parser.add_argument("--out", required=True, help="Path prefix of the .json and .md.")
    args = parser.parse_args()
    files = {
        split: read_labeled_file(os.path.join(args.data_dir, name), f"{split} file")
        for split, name in (
            ("train", args.train_file),
            ("valid", "valid.txt"),
            ("test", "test.txt"),
        )
    }
    texts = {split: data.texts for split, data in files.items()}
    rows = []
    for run_dir in args.runs:
        label_set = LabelSet(_read_json(run_dir, "model", "config.json")["classifier"]["labels"])
        truth = {s: label_set.encode(files[s].labels)[0] > 0 for s in ("valid", "test")}
        kind = _read_json(run_dir, "metrics.json")["arm"]
        for row in evaluate(run_dir, run_probabilities(run_dir, texts), truth):
            rows.append(dict(row, kind=kind))
    from benchmarks.tfidf_baseline import run_tfidf_baseline

    tfidf = run_tfidf_baseline(
        *(os.path.join(args.data_dir, n) for n in (args.train_file, "valid.txt", "test.txt"))
    )
    label_set = LabelSet(tfidf["labels"])
    truth = {s: label_set.encode(files[s].labels)[0] > 0 for s in ("valid", "test")}
    probabilities = {s: tfidf[f"{s}_probabilities"] for s in ("valid", "test")}
    rows += [dict(row, kind="tfidf_lr") for row in evaluate("tfidf_lr", probabilities, truth)]
    command = " ".join(["python -m benchmarks.threshold_rules", *sys.argv[1:]])
    text = markdown(rows, command)
    with open(args.out + ".json", "w", encoding="utf-8") as f:
        json.dump(dict(command=command, rows=rows), f, indent=2)
    with open(args.out + ".md", "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
