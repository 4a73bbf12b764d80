"""The reference baseline: TF-IDF features and logistic regression. Multi-label: one-vs-rest,
with the same valid-tuned threshold rule as the neural classifier; single-label: multinomial,
the most probable class, scored as the neural classifier is. Needs the `benchmark` extra
(scikit-learn).
"""

import dataclasses
import time

import numpy as np
from absl import logging

from bert_tf import metrics, problem_types, single_label_metrics
from bert_tf.labeled_data import LabelSet, read_labeled_file


@dataclasses.dataclass(frozen=True)
class Features:
    """What the reference's TF-IDF counts: `analyzer` and `ngram_range` as scikit-learn's
    `TfidfVectorizer` takes them."""

    description: str
    analyzer: str
    ngram_range: tuple


#: The reference's features by name. Words suit text with spaces between its words; where there
#: are none (Chinese, Japanese), a "word" is a whole clause, seldom seen twice, and character
#: n-grams are the fair reference.
FEATURES = {
    "word": Features("word 1-2-grams", "word", (1, 2)),
    "char": Features("character 1-3-grams within words", "char_wb", (1, 3)),
}


def run_tfidf_baseline(
    train_file,
    valid_file,
    test_file,
    c_values=(1.0, 10.0, 100.0, 1000.0),
    jobs=1,
    features="word",
) -> dict:
    """Fits TF-IDF + logistic regression; C and the threshold are chosen on valid.

    C goes up through `c_values` and stops at the first value that scores below the best so
    far on valid: the large C values are the slow fits, and past the peak they only lose.
    Results repeat for a given number of BLAS threads; another number can move the last
    digits (on debian-tags' train_small, test micro-F1 0.55621 on 2 threads, 0.55613 on 1).
    `jobs` fits that many labels at once, in worker processes: each label's model is fitted
    alone either way, so the figures do not depend on it, only the wall time does. (Threads
    would share the features, but liblinear fitted in threads side by side gave probabilities
    that differed from one run to the next by up to 0.017.) `features` names the TF-IDF
    features, a key of `FEATURES`.

    Returns:
        dict: the chosen `c` and `threshold`, `valid` and `test` scores, `tried` (each C's
        valid micro-F1), `wall_seconds`, `features`; `labels` (names, in column order) and the
        chosen model's `test_probabilities` [N, labels], for analyses beyond the scores.
    """
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    started = time.perf_counter()
    data, label_set, vectors = _read_and_vectorize(train_file, valid_file, test_file, features)
    truth = {split: label_set.encode(d.labels)[0] > 0 for split, d in data.items()}
    # Labels absent from train-set rows cannot be fitted; give them probability 0.
    present = truth["train"].any(axis=0)
    best, tried = None, []
    for c in sorted(c_values):
        model = OneVsRestClassifier(LogisticRegression(C=c, solver="liblinear"), n_jobs=jobs)
        # No memory-mapping of the features: liblinear refused the read-only copies it gave
        # the workers ("WRITEBACKIFCOPY base is read-only") on debian-tags' train_small.
        with joblib.parallel_config(backend="loky", max_nbytes=None):
            model.fit(vectors["train"], truth["train"][:, present])
        valid_probabilities = _probabilities(model, vectors["valid"], present)
        threshold = metrics.tune_threshold(valid_probabilities, truth["valid"])
        valid = metrics.multilabel_scores(
            truth["valid"], metrics.decide_labels(valid_probabilities, threshold)
        )
        tried.append({"c": c, "valid_micro_f1": valid["micro_f1"]})
        logging.info("TF-IDF + LR, C=%g: valid micro-F1 %.4f", c, valid["micro_f1"])
        if best is not None and valid["micro_f1"] < best["valid"]["micro_f1"]:
            break
        if best is None or valid["micro_f1"] > best["valid"]["micro_f1"]:
            test_probabilities = _probabilities(model, vectors["test"], present)
            test = metrics.multilabel_scores(
                truth["test"], metrics.decide_labels(test_probabilities, threshold)
            )
            best = {
                "c": c,
                "threshold": float(threshold),
                "valid": valid,
                "test": test,
                "labels": label_set.names,
                "valid_probabilities": valid_probabilities,
                "test_probabilities": test_probabilities,
            }
    best.update(tried=tried, features=features)
    best["wall_seconds"] = round(time.perf_counter() - started, 1)
    return best


def run_tfidf_single_label_baseline(
    train_file,
    valid_file,
    test_file,
    c_values=(1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6),
    features="word",
) -> dict:
    """Fits TF-IDF + multinomial logistic regression on single-label files; C is chosen on
    valid accuracy, going up through `c_values` until valid accuracy falls, as
    `run_tfidf_baseline` does (on debian-sections `train_small.txt` it still rose at C = 1e4,
    so the grid goes on further). Scores are those of `problem_types.SingleLabel`: a class the
    train file lacks counts as an error. `features` as in `run_tfidf_baseline`.

    Returns:
        dict: the chosen `c`, `valid` and `test` (`accuracy`, `macro_f1`), `tried` (each C's
        valid accuracy), `wall_seconds`, `features`; `labels` and the chosen model's
        `test_probabilities` [N, labels].
    """
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    problem = problem_types.get("single_label")
    data, label_set, vectors = _read_and_vectorize(
        train_file, valid_file, test_file, features, single_label=True
    )
    truth = {split: problem.truth(label_set, d.labels) for split, d in data.items()}
    best, tried = None, []
    for c in sorted(c_values):
        model = LogisticRegression(C=c, max_iter=1000)
        model.fit(vectors["train"], truth["train"].indices)
        # The train classes are 0..L-1, so predict_proba's columns are the label set's.
        probabilities = {s: model.predict_proba(vectors[s]) for s in ("valid", "test")}
        scores = {
            split: single_label_metrics.scores(
                single_label_metrics.confusion_matrix(
                    truth[split].indices,
                    np.argmax(probabilities[split], axis=1),
                    len(truth[split].names),
                )
            )
            for split in ("valid", "test")
        }
        tried.append({"c": c, "valid_accuracy": scores["valid"]["accuracy"]})
        logging.info("TF-IDF + LR, C=%g: valid accuracy %.4f", c, scores["valid"]["accuracy"])
        if best is not None and scores["valid"]["accuracy"] < best["valid"]["accuracy"]:
            break
        if best is None or scores["valid"]["accuracy"] > best["valid"]["accuracy"]:
            best = dict(
                scores, c=c, labels=label_set.names, test_probabilities=probabilities["test"]
            )
    best.update(tried=tried, features=features)
    best["wall_seconds"] = round(time.perf_counter() - started, 1)
    return best


def _read_and_vectorize(train_file, valid_file, test_file, features, single_label=False):
    """The three files, the train label set, and each split's TF-IDF vectors (the `features`
    seen in at least 2 train texts, sublinear term frequencies)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    data = {
        split: read_labeled_file(path, f"{split} file", single_label=single_label)
        for split, path in (("train", train_file), ("valid", valid_file), ("test", test_file))
    }
    label_set = LabelSet.from_examples(data["train"].labels)
    counted = FEATURES[features]
    vectorizer = TfidfVectorizer(
        analyzer=counted.analyzer, ngram_range=counted.ngram_range, min_df=2, sublinear_tf=True
    )
    vectors = {"train": vectorizer.fit_transform(data["train"].texts)}
    for split in ("valid", "test"):
        vectors[split] = vectorizer.transform(data[split].texts)
    return data, label_set, vectors


def _probabilities(model, vectors, present):
    """[N, all labels] probabilities; the labels train never had (not `present`) get 0."""
    full = np.zeros((vectors.shape[0], len(present)), np.float32)
    full[:, present] = model.predict_proba(vectors)
    return full
