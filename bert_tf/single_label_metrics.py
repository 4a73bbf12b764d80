"""Single-label scores from class indices, in plain numpy: accuracy, macro-F1, per-class
precision, recall and F1, and the confusion matrix."""

import numpy as np


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class).

    Args:
        truth: np.ndarray int [N]. True class indices, 0 <= index < num_classes.
        predicted: np.ndarray int [N]. Predicted class indices, in the same range.
        num_classes: int. C.

    Returns:
        np.ndarray int64 [C, C]: row = true class, column = predicted class.

    Raises:
        ValueError: the arrays differ in shape or hold an index outside 0..C-1 (programming
            errors).
    """
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    if truth.shape != predicted.shape or truth.ndim != 1:
        raise ValueError(f"expected two [N] arrays, got {truth.shape} and {predicted.shape}")
    for array in (truth, predicted):
        if array.size and (array.min() < 0 or array.max() >= num_classes):
            raise ValueError(f"class indices must be in 0..{num_classes - 1}")
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def scores(matrix: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 of a confusion matrix.

    Macro-F1 is the plain mean of per-class F1 over the classes that occur in the truth or in
    the predictions (as scikit-learn's `f1_score(average="macro")` without `labels`): a class
    with neither has an undefined F1, and counting it would move the score for no reason.

    Args:
        matrix: np.ndarray int [C, C]. From `confusion_matrix`.

    Returns:
        dict with floats "accuracy" and "macro_f1" (0 for an empty matrix).
    """
    tp, support, predicted = _class_counts(matrix)
    total = int(support.sum())
    occurring = (support + predicted) > 0
    f1 = _ratio_array(2 * tp, support + predicted)
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_f1": float(f1[occurring].mean()) if occurring.any() else 0.0,
    }


def per_class_scores(matrix: np.ndarray, names: list[str]) -> list[dict]:
    """Each class's support, precision, recall and F1, to show which classes the model gets
    wrong; rows shaped as `metrics.per_label_scores`' (`metrics.format_per_label_table` prints
    them).

    Args:
        matrix: np.ndarray int [C, C]. From `confusion_matrix`.
        names: list[str]. The C class names, in index order.

    Returns:
        One dict per class with "name", "support" (int), "precision", "recall" and "f1"
        (floats, 0 on zero division), sorted by support, largest first; equal supports keep
        index order.

    Raises:
        ValueError: names has the wrong length (a programming error).
    """
    tp, support, predicted = _class_counts(matrix)
    if len(names) != len(tp):
        raise ValueError(f"expected {len(tp)} class names, got {len(names)}")
    precision = _ratio_array(tp, predicted)
    recall = _ratio_array(tp, support)
    f1 = _ratio_array(2 * tp, support + predicted)
    rows = [
        {
            "name": name,
            "support": int(support[c]),
            "precision": float(precision[c]),
            "recall": float(recall[c]),
            "f1": float(f1[c]),
        }
        for c, name in enumerate(names)
    ]
    return sorted(rows, key=lambda row: -row["support"])


def _class_counts(matrix):
    """True positives, true occurrences (support) and predictions of each class."""
    matrix = np.asarray(matrix)
    return np.diag(matrix), matrix.sum(axis=1), matrix.sum(axis=0)


def _ratio_array(numerator, denominator):
    """numerator / denominator elementwise, 0 where the denominator is 0."""
    denominator = np.asarray(denominator, np.float64)
    return np.divide(numerator, denominator, out=np.zeros(denominator.shape), where=denominator > 0)
