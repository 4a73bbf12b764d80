"""Per-example multi-label losses on logits, for labels whose frequencies differ by orders of
magnitude: plain sigmoid cross-entropy, focal loss, and class-balanced cross-entropy (full or
tempered)."""

import keras
import numpy as np
from keras import ops

#: `--loss` choices.
LOSSES = ("sigmoid", "focal", "class_balanced", "class_balanced_sqrt")
#: The class-balanced losses and the power their weights are raised to: `class_balanced_sqrt`
#: tempers them (a label 400 times rarer weighs 20 times more, not 400).
CLASS_BALANCE_POWERS = {"class_balanced": 1.0, "class_balanced_sqrt": 0.5}
#: Focal loss's gamma (Lin et al., 2017): easy decisions (p_t near 1) weigh (1 - p_t)^gamma.
FOCAL_GAMMA = 2.0
#: Class-balanced loss's beta (Cui et al., 2019): a label seen n times weighs as its
#: "effective number" (1 - beta^n) / (1 - beta) of examples.
CLASS_BALANCED_BETA = 0.999


def class_balanced_weights(
    label_matrix: np.ndarray, beta: float = CLASS_BALANCED_BETA, power: float = 1.0
):
    """Each label's positive weight [L] from the train labels [N, L]: inverse effective number
    to `power`, scaled so the most frequent label weighs 1 (labels never seen get the largest
    weight).

    Cui et al. scale the weights to average 1, which suits softmax. With sigmoid outputs each
    label's negatives keep weight 1, so that scale would weigh a frequent label's positives
    at a 70th of its negatives (debian-tags: 199 labels, most of them rare) and the model
    stops predicting the labels that carry micro-F1: measured on debian-tags `train_small`,
    valid micro-F1 0.277 against 0.573. Here no label's positives weigh less than in plain
    sigmoid cross-entropy; rare ones weigh more."""
    counts = label_matrix.sum(axis=0)
    effective = (1.0 - np.power(beta, np.maximum(counts, 1))) / (1.0 - beta)
    weights = 1.0 / effective
    return np.power(weights / weights.min(), power).astype(np.float32)


def positive_weights(name: str, label_matrix: np.ndarray):
    """The positive weights [L] loss `name` trains with (None for a loss without them)."""
    if name not in CLASS_BALANCE_POWERS:
        return None
    return class_balanced_weights(label_matrix, power=CLASS_BALANCE_POWERS[name])


def multilabel_loss(name: str, labels, logits, positive_weights=None):
    """Mean over labels and examples of the chosen loss.

    Args:
        name: str. One of `LOSSES`.
        labels: float [B, L] multi-hot.
        logits: float [B, L].
        positive_weights: float [L] or None. For the class-balanced losses: weights of the
            positive term (negatives keep weight 1), so a rare label's few positives count more.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {LOSSES}")
    if name == "sigmoid":
        return ops.mean(keras.losses.binary_crossentropy(labels, logits, from_logits=True))
    # Stable log-sigmoids: log p = -softplus(-z), log (1 - p) = -softplus(z).
    log_p, log_not_p = -ops.softplus(-logits), -ops.softplus(logits)
    positive, negative = -labels * log_p, -(1.0 - labels) * log_not_p
    if name == "focal":
        p = ops.sigmoid(logits)
        positive = positive * ops.power(1.0 - p, FOCAL_GAMMA)
        negative = negative * ops.power(p, FOCAL_GAMMA)
    else:  # class_balanced, class_balanced_sqrt
        positive = positive * positive_weights
    return ops.mean(positive + negative)
