"""Multi-label decisions, F1 scores and threshold tuning, in plain numpy."""

import numpy as np

DEFAULT_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


def decide_labels(probs: np.ndarray, threshold: float | np.ndarray) -> np.ndarray:
    """Decide which labels each example gets from its probabilities.

    A label is assigned when its probability reaches the threshold. Every example also gets its
    most probable label, even below the threshold, because every example in a multi-label file
    has at least one label, so predicting none is always wrong.

    Args:
        probs: np.ndarray. Probabilities, [examples, labels].
        threshold: float | np.ndarray. One threshold for all labels, or one per label [labels].

    Returns:
        bool array [examples, labels], probs >= threshold, plus each row's top-1 label.

    Raises:
        ValueError: probs is not 2-D with at least one label, or threshold has the wrong shape
            (programming errors).
    """
    probs = _as_probs(probs)
    threshold = _as_threshold(threshold, probs)
    return (probs >= threshold) | _top1_mask(probs)


def multilabel_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Score multi-label decisions with micro and macro F1.

    Micro-F1 pools all (example, label) decisions, so frequent labels dominate; macro-F1 is the
    plain mean of per-label F1, so rare labels count as much as frequent ones. Their mean is a
    single number that rewards both. Macro-F1 averages only over labels that occur in y_true or
    y_pred: a label with neither has no true positive, false positive or false negative, so its
    F1 is 0/0, undefined, and counting it as 0 or 1 would move the score for no reason. Any other
    zero division (e.g. precision with no predicted label) gives 0.

    Args:
        y_true: np.ndarray. True labels, [examples, labels], bool or 0/1.
        y_pred: np.ndarray. Decided labels, [examples, labels], bool or 0/1.

    Returns:
        dict with floats "micro_f1", "macro_f1", "mean_f1" ((micro + macro) / 2), "precision"
        and "recall" (both micro).

    Raises:
        ValueError: the arrays are not 2-D or differ in shape (a programming error).
    """
    tp, fp, fn = _label_counts(y_true, y_pred)
    all_tp, all_fp, all_fn = int(tp.sum()), int(fp.sum()), int(fn.sum())
    micro_f1 = _ratio(2 * all_tp, 2 * all_tp + all_fp + all_fn)
    occurring = (tp + fp + fn) > 0
    macro_f1 = float(np.mean(_f1(tp, fp, fn)[occurring])) if occurring.any() else 0.0
    return {
        "micro_f1": micro_f1,
        "macro_f1": macro_f1,
        "mean_f1": (micro_f1 + macro_f1) / 2,
        "precision": _ratio(all_tp, all_tp + all_fp),
        "recall": _ratio(all_tp, all_tp + all_fn),
    }


def weighted_micro_f1(y_true: np.ndarray, y_pred: np.ndarray, weights) -> float:
    """Micro-F1 with each example's true positives, false positives and false negatives
    counted `weights[example]` times, e.g. 1 / the size of its group of near-duplicates.

    Raises:
        ValueError: the arrays are not 2-D or differ in shape (a programming error).
    """
    truth, decided = _truth_and_decisions(y_true, y_pred)
    weights = np.asarray(weights, np.float64)
    tp = weights @ np.count_nonzero(truth & decided, axis=1)
    wrong = weights @ np.count_nonzero(truth != decided, axis=1)
    return _ratio(2 * tp, 2 * tp + wrong)


def per_label_scores(y_true: np.ndarray, y_pred: np.ndarray, names: list[str]) -> list[dict]:
    """Score each label on its own, to show which labels the model gets wrong.

    Args:
        y_true: np.ndarray. True labels, [examples, labels], bool or 0/1.
        y_pred: np.ndarray. Decided labels, [examples, labels], bool or 0/1.
        names: list[str]. The label names, in column order.

    Returns:
        One dict per label with "name", "support" (int, true occurrences), "precision", "recall"
        and "f1" (floats, 0 on zero division), sorted by support, largest first; equal supports
        keep column order.

    Raises:
        ValueError: the arrays are not 2-D, differ in shape, or names has the wrong length
            (programming errors).
    """
    tp, fp, fn = _label_counts(y_true, y_pred)
    if len(names) != len(tp):
        raise ValueError(f"expected {len(tp)} label names, got {len(names)}")
    rows = [
        {
            "name": name,
            "support": int(tp[j] + fn[j]),
            "precision": _ratio(tp[j], tp[j] + fp[j]),
            "recall": _ratio(tp[j], tp[j] + fn[j]),
            "f1": _ratio(2 * tp[j], 2 * tp[j] + fp[j] + fn[j]),
        }
        for j, name in enumerate(names)
    ]
    return sorted(rows, key=lambda row: -row["support"])


def format_per_label_table(rows: list[dict]) -> str:
    """Format per_label_scores rows as a fixed-width text table for logs and reports.

    Args:
        rows: list[dict]. Rows as returned by per_label_scores.

    Returns:
        The table, a header line then one line per row, without a trailing newline.

    Raises:
        KeyError: a row lacks one of the per_label_scores keys (a programming error).
    """
    width = max([len("label")] + [len(row["name"]) for row in rows])
    lines = [f"{'label':<{width}}  {'support':>7}  {'precision':>9}  {'recall':>6}  {'f1':>6}"]
    for row in rows:
        lines.append(
            f"{row['name']:<{width}}  {row['support']:>7d}  {row['precision']:>9.4f}  "
            f"{row['recall']:>6.4f}  {row['f1']:>6.4f}"
        )
    return "\n".join(lines)


def tune_threshold(
    probs: np.ndarray,
    y_true: np.ndarray,
    per_label: bool = False,
    grid: np.ndarray | None = None,
    shrinkage: float = 0.0,
) -> float | np.ndarray:
    """Find the decision threshold(s) that score best on held-out examples.

    The global threshold is the grid value whose decide_labels decisions have the highest
    micro-F1 (the first, i.e. lowest, of equal bests). With per_label, each label then gets the
    grid value that maximises its own F1. Because the top-1 label of a row does not depend on
    the thresholds, one label's threshold does not change another label's decisions, so a single
    pass over the grid finds the best value of every label. Labels without a positive in y_true
    have F1 0 at any threshold and keep the global one.

    A label's own best threshold is a noisy estimate when it has few positives (a label with
    two positives in valid gets the threshold that happens to catch both), so with `shrinkage`
    k > 0 it moves only the share n / (n + k) of the way from the global threshold, n being the
    label's positives: rare labels stay near the global value, frequent ones get their own.

    Args:
        probs: np.ndarray. Probabilities, [examples, labels].
        y_true: np.ndarray. True labels, [examples, labels], bool or 0/1.
        per_label: bool. Return one threshold per label instead of one for all.
        grid: np.ndarray | None. Candidate thresholds, 1-D; None for DEFAULT_GRID
            (0.05, 0.06, ..., 0.95).
        shrinkage: float. With per_label, k of the shrinkage toward the global threshold
            (0: each label's own best).

    Returns:
        The global threshold as a float, or with per_label a float64 array [labels].

    Raises:
        ValueError: the arrays are not 2-D, differ in shape, have no label column, or grid is
            not a non-empty 1-D array (programming errors).
    """
    probs = _as_probs(probs)
    truth = _as_bool_matrix("y_true", y_true)
    if truth.shape != probs.shape:
        raise ValueError(f"y_true shape {truth.shape} differs from probs shape {probs.shape}")
    grid = DEFAULT_GRID if grid is None else np.asarray(grid, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"grid must be a non-empty 1-D array, got shape {grid.shape}")

    top1 = _top1_mask(probs)
    positives = np.count_nonzero(truth, axis=0)
    tp = np.empty((grid.size, probs.shape[1]), dtype=np.int64)
    predicted = np.empty_like(tp)
    for g, threshold in enumerate(grid):
        # Same rule as decide_labels, with the top-1 mask computed once for the whole grid.
        decided = (probs >= _as_threshold(threshold, probs)) | top1
        tp[g] = np.count_nonzero(decided & truth, axis=0)
        predicted[g] = np.count_nonzero(decided, axis=0)
    fp = predicted - tp
    fn = positives - tp

    all_tp = tp.sum(axis=1)
    micro_f1 = _f1(all_tp, fp.sum(axis=1), fn.sum(axis=1))
    global_threshold = float(grid[np.argmax(micro_f1)])
    if not per_label:
        return global_threshold
    best_per_label = grid[np.argmax(_f1(tp, fp, fn), axis=0)]
    weight = positives / np.maximum(positives + shrinkage, 1e-12)
    shrunk = global_threshold + weight * (best_per_label - global_threshold)
    return np.where(positives > 0, shrunk, global_threshold)


def _as_probs(probs: np.ndarray) -> np.ndarray:
    """Return probs as a float array [examples, labels], checking it has at least one label."""
    probs = np.asarray(probs)
    if not np.issubdtype(probs.dtype, np.floating):
        probs = probs.astype(np.float64)
    if probs.ndim != 2 or probs.shape[1] == 0:
        raise ValueError(f"probs must be 2-D [examples, labels >= 1], got shape {probs.shape}")
    return probs


def _as_threshold(threshold: float | np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Return threshold in the dtype of probs, checking its shape."""
    # Comparing in the probabilities' own precision makes a threshold decide the same way
    # whether it arrives as a Python float, a float64 grid value or a float32 array.
    threshold = np.asarray(threshold, dtype=probs.dtype)
    if threshold.ndim > 1 or (threshold.ndim == 1 and threshold.shape != (probs.shape[1],)):
        raise ValueError(
            f"threshold must be a scalar or have shape ({probs.shape[1]},), "
            f"got shape {threshold.shape}"
        )
    return threshold


def _top1_mask(probs: np.ndarray) -> np.ndarray:
    """Return a bool mask [examples, labels] that is True at each row's most probable label."""
    mask = np.zeros(probs.shape, dtype=bool)
    mask[np.arange(probs.shape[0]), np.argmax(probs, axis=1)] = True
    return mask


def _as_bool_matrix(what: str, array: np.ndarray) -> np.ndarray:
    """Return array as a 2-D bool array, checking its rank."""
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{what} must be 2-D [examples, labels], got shape {array.shape}")
    return array.astype(bool)


def _truth_and_decisions(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return both as 2-D bool arrays, checking that their shapes match."""
    truth = _as_bool_matrix("y_true", y_true)
    decided = _as_bool_matrix("y_pred", y_pred)
    if truth.shape != decided.shape:
        raise ValueError(f"y_true shape {truth.shape} differs from y_pred shape {decided.shape}")
    return truth, decided


def _label_counts(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return per-label true positive, false positive and false negative counts."""
    truth, decided = _truth_and_decisions(y_true, y_pred)
    tp = np.count_nonzero(truth & decided, axis=0)
    fp = np.count_nonzero(~truth & decided, axis=0)
    fn = np.count_nonzero(truth & ~decided, axis=0)
    return tp, fp, fn


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Return F1 = 2tp / (2tp + fp + fn) elementwise, 0 where the denominator is 0."""
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros(denominator.shape), where=denominator > 0)


def _ratio(numerator: int, denominator: int) -> float:
    """Return numerator / denominator as a float, 0 when the denominator is 0."""
    return float(numerator / denominator) if denominator else 0.0
