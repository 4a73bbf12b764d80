"""Fine-tuning's problem types (`--problem_type`): what differs between multi-label and
single-label classification around the model: reading the labels, the head's starting bias, the
figures scored on valid each epoch (and the one the best epoch is chosen on), and how labels are
decided from probabilities. The model's own part (its probabilities and loss) is its class in
`classifier`.

    multi_label    any number of labels a line; a sigmoid per label, labels decided by a
                   threshold tuned on valid; best epoch by valid mean-F1 (or micro or macro-F1)
    single_label   exactly one label (class) a line; a softmax over the classes, the most
                   probable one; best epoch by valid accuracy (or macro-F1)
"""

import dataclasses

import numpy as np
from absl import logging

from bert_tf import metrics, single_label_metrics
from bert_tf.classifier import MultiLabelClassifier, SingleLabelClassifier, prior_log_odds
from bert_tf.errors import InputError
from bert_tf.multilabel_losses import positive_weights


class MultiLabel:
    """Any number of labels a line: sigmoid outputs, thresholds, micro- and macro-F1."""

    name = "multi_label"
    classifier_class = MultiLabelClassifier
    single_label_lines = False
    #: The valid figures the best epoch may be chosen on (`--select_epoch_on`), the default
    #: first.
    epoch_selections = ("mean_f1", "micro_f1", "macro_f1")
    #: The test figures a run's last log line reports.
    headline_scores = ("micro_f1", "macro_f1", "mean_f1")
    #: What becomes of valid and test labels the train file never had, for the log.
    unseen_labels_scored = "are left out of the scores"

    def check_settings(self, config) -> None:
        """Raises InputError for an epoch selection multi-label does not score."""
        selection_metric(self, config.select_epoch_on)

    def build_classifier(self, backbone, targets: np.ndarray, config) -> MultiLabelClassifier:
        """The classifier for train targets [N, L] multi-hot, with `config`'s pooling, dropout,
        loss and starting bias (the labels' log-odds unless `--noinit_bias_to_priors`)."""
        return MultiLabelClassifier(
            backbone,
            targets.shape[1],
            config.pooling,
            config.classifier_dropout,
            prior_log_odds(targets) if config.init_bias_to_priors else None,
            loss=config.loss,
            positive_weights=positive_weights(config.loss, targets),
        )

    def check_train_examples(self, examples) -> None:
        """Logs a hint when every train line has exactly one label: single-label data, maybe."""
        if all(len(labels) == 1 for labels in examples.labels):
            logging.warning(
                "%s: every line has exactly one label; if each line belongs to exactly one "
                "class, --problem_type=single_label (softmax, accuracy) may be meant",
                examples.path,
            )

    def truth(self, label_set, label_lists) -> np.ndarray:
        """What scoring compares with: bool [N, L], the labels of the label set each line has."""
        return label_set.encode(label_lists)[0] > 0

    def epoch_scores(self, probabilities: np.ndarray, truth: np.ndarray) -> dict:
        """Valid micro- and macro-F1 at the threshold tuned on valid, and that threshold."""
        threshold = metrics.tune_threshold(probabilities, truth)
        scores = metrics.multilabel_scores(truth, metrics.decide_labels(probabilities, threshold))
        return {
            "valid_micro_f1": scores["micro_f1"],
            "valid_macro_f1": scores["macro_f1"],
            "valid_mean_f1": scores["mean_f1"],
            "valid_threshold": float(threshold),
        }

    def decide(self, probabilities: np.ndarray, thresholds) -> np.ndarray:
        """bool [N, L]: the labels at or above the thresholds, and always the top-1."""
        return metrics.decide_labels(probabilities, np.asarray(thresholds))


@dataclasses.dataclass(frozen=True)
class ClassTruth:
    """The true class of each line, as an index into `names`: the label set's classes, then
    those only this split has (the model cannot predict them; they count as errors).

    Attributes:
        indices: np.ndarray int64 [N].
        names: list[str]. C names, the label set's first.
    """

    indices: np.ndarray
    names: list


class SingleLabel:
    """Exactly one label a line: softmax outputs, the most probable class, accuracy and
    macro-F1, per-class scores and a confusion matrix."""

    name = "single_label"
    classifier_class = SingleLabelClassifier
    single_label_lines = True
    epoch_selections = ("accuracy", "macro_f1")
    headline_scores = ("accuracy", "macro_f1")
    unseen_labels_scored = "their lines count as errors"

    def check_train_examples(self, examples) -> None:
        """Raises InputError when the train file has fewer than 2 classes."""
        classes = {labels[0] for labels in examples.labels}
        if len(classes) < 2:
            raise InputError(
                f"{examples.path}: every line has the label {classes.pop()}; single-label "
                "classification needs at least 2 classes in the train file"
            )

    def check_settings(self, config) -> None:
        """Raises InputError for the multi-label settings (thresholds and sigmoid losses) and
        for an epoch selection single-label does not score."""
        selection_metric(self, config.select_epoch_on)
        multi_label_only = {
            "--per_label_thresholds": config.per_label_thresholds,
            f"--threshold_shrinkage={config.threshold_shrinkage}": config.threshold_shrinkage,
            f"--loss={config.loss}": config.loss != "sigmoid",
        }
        for flag, given in multi_label_only.items():
            if given:
                raise InputError(
                    f"{flag}: a multi_label setting; single_label takes the most probable class "
                    "(no thresholds) and trains with softmax cross-entropy; leave it out"
                )

    def build_classifier(self, backbone, targets: np.ndarray, config) -> SingleLabelClassifier:
        """The classifier for train targets [N, C] one-hot, with `config`'s pooling and
        dropout, its softmax starting at the class shares unless `--noinit_bias_to_priors`."""
        return SingleLabelClassifier(
            backbone,
            targets.shape[1],
            config.pooling,
            config.classifier_dropout,
            self.initial_bias(targets) if config.init_bias_to_priors else None,
        )

    @staticmethod
    def initial_bias(targets: np.ndarray) -> np.ndarray:
        """The log of each class's share of the train targets [N, C] -> [C]: the softmax then
        starts at the class priors."""
        return np.log(np.clip(targets.mean(axis=0), 1e-4, 1.0)).astype(np.float32)

    def truth(self, label_set, label_lists) -> ClassTruth:
        """Each line's class, unseen classes numbered after the label set's, by name."""
        names = label_set.names
        unseen = sorted({labels[0] for labels in label_lists} - set(names))
        columns = {name: index for index, name in enumerate(names + unseen)}
        indices = np.array([columns[labels[0]] for labels in label_lists], np.int64)
        return ClassTruth(indices, names + unseen)

    def epoch_scores(self, probabilities: np.ndarray, truth: ClassTruth) -> dict:
        """Valid accuracy and macro-F1 of the most probable class."""
        scores = single_label_metrics.scores(self._confusion(probabilities, truth))
        return {"valid_accuracy": scores["accuracy"], "valid_macro_f1": scores["macro_f1"]}

    def final_scores(self, evaluated: dict, truths: dict) -> dict:
        """Valid and test accuracy, macro-F1 and loss; per-class scores and the confusion
        matrix on test.

        Args:
            evaluated: dict split -> (probabilities [N, C], mean loss), for valid and test.
            truths: dict split -> ClassTruth.
        """
        results, matrices = {}, {}
        for split, (probabilities, loss) in evaluated.items():
            matrices[split] = self._confusion(probabilities, truths[split])
            scores = single_label_metrics.scores(matrices[split])
            results[split] = dict(scores, loss=loss)
            logging.info(
                "%s: accuracy %.4f macro-F1 %.4f", split, scores["accuracy"], scores["macro_f1"]
            )
        matrix, names = matrices["test"], truths["test"].names
        rows = single_label_metrics.per_class_scores(matrix, names)
        results["test_per_label"] = rows
        results["test_confusion_matrix"] = {"labels": names, "matrix": matrix.tolist()}
        logging.info("per-class scores on test:\n%s", metrics.format_per_label_table(rows))
        return results

    def decide(self, probabilities: np.ndarray, thresholds=None) -> np.ndarray:
        """bool [N, C]: the most probable class of each row (no thresholds)."""
        probabilities = np.asarray(probabilities)
        decided = np.zeros(probabilities.shape, bool)
        decided[np.arange(len(probabilities)), np.argmax(probabilities, axis=1)] = True
        return decided

    @staticmethod
    def _confusion(probabilities, truth):
        predicted = np.argmax(probabilities, axis=1)
        return single_label_metrics.confusion_matrix(truth.indices, predicted, len(truth.names))


def selection_metric(problem, choice=None) -> str:
    """The history key (`valid_...`) of the figure `--select_epoch_on=choice` names, the
    problem type's default for None.

    Raises:
        InputError: `choice` is not one of the problem type's `epoch_selections`.
    """
    if choice is None:
        return f"valid_{problem.epoch_selections[0]}"
    if choice not in problem.epoch_selections:
        raise InputError(
            f"--select_epoch_on={choice}: {problem.name} scores valid on "
            f"{', '.join(problem.epoch_selections)}; expected one of them"
        )
    return f"valid_{choice}"


PROBLEM_TYPES = {problem.name: problem for problem in (MultiLabel(), SingleLabel())}
#: Every figure some problem type may choose its epoch on (`--select_epoch_on`'s choices).
EPOCH_SELECTIONS = tuple(
    dict.fromkeys(
        choice for problem in PROBLEM_TYPES.values() for choice in problem.epoch_selections
    )
)


def get(name: str):
    """The problem type called `name`.

    Raises:
        InputError: no problem type has that name (the message lists the known ones).
    """
    if name not in PROBLEM_TYPES:
        raise InputError(f"--problem_type={name}: expected one of {sorted(PROBLEM_TYPES)}")
    return PROBLEM_TYPES[name]
