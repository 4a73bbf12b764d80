"""Labeling raw text with a fine-tuned model: probabilities, their printed form, and a stream
of output lines for `predict_bert.py` (`bert-tf-predict`).

An output line is the labels of one text with their probabilities, most probable first,
tab-separated: `label:0.913`. By default the labels are those decided by the thresholds tuned
on valid (at least the top-1 label, see `metrics.decide_labels`); with `top_k` > 0, the k most
probable labels whatever the thresholds.
"""

import itertools
from collections.abc import Iterable, Iterator

import numpy as np
import tensorflow as tf

from bert_tf import metrics
from bert_tf.batching import pad_batch
from bert_tf.classification_data import encode_texts


def predict_probabilities(model, tokenizer, texts, max_seq_length, batch_size=64) -> np.ndarray:
    """Label probabilities [N, L] for raw texts.

    Args:
        model: MultiLabelClassifier.
        tokenizer: Tokenizer. The model's.
        texts: list[str]. N raw texts.
        max_seq_length: int. Texts are truncated to this many tokens, [CLS]/[SEP] included.
        batch_size: int. Texts per forward pass; the result does not depend on it.
    """
    ids = encode_texts(texts, tokenizer, max_seq_length)
    dataset = tf.data.Dataset.from_tensor_slices({"token_ids": ids}).map(
        lambda ex: dict(ex, segment_ids=tf.zeros_like(ex["token_ids"]))
    )
    outputs = [
        tf.sigmoid(model(batch, training=False)).numpy()
        for batch in dataset.ragged_batch(batch_size).map(
            lambda batch: pad_batch(batch, tokenizer.special_ids.pad)
        )
    ]
    return np.concatenate(outputs) if outputs else np.zeros((0, model.output_layer.units))


def format_predictions(probabilities, labels, thresholds, top_k=0) -> list[str]:
    """One line per row, most probable first, as `label:probability`, tab-separated.

    Args:
        probabilities: np.ndarray. Label probabilities [N, L].
        labels: list[str]. The L label names in column order.
        thresholds: float | list[float] | np.ndarray. One threshold, or one per label [L].
        top_k: int. 0 prints the labels the thresholds decide (at least the top-1); k > 0
            prints the k most probable labels (all L if k > L), whatever the thresholds.

    Raises:
        ValueError: top_k is negative (a programming error).
    """
    if top_k < 0:
        raise ValueError(f"top_k must be 0 or more, got {top_k}")
    if top_k:
        chosen_rows = np.ones(np.shape(probabilities), bool)
    else:
        chosen_rows = metrics.decide_labels(probabilities, np.asarray(thresholds))
    lines = []
    for row, chosen in zip(probabilities, chosen_rows):
        order = [j for j in np.argsort(-row) if chosen[j]]
        if top_k:
            order = order[:top_k]
        lines.append("\t".join(f"{labels[j]}:{row[j]:.3f}" for j in order))
    return lines


def predict_lines(
    lines: Iterable[str], model, tokenizer, config: dict, batch_size: int = 64, top_k: int = 0
) -> Iterator[str]:
    """Labels a stream of texts batch by batch: one output line per input line, in order.

    Reads `batch_size` lines, predicts them, yields their output lines, and only then reads
    the next batch, so a caller that flushes after each batch works in a pipe (the last batch
    may be shorter). Texts are taken as given: strip line terminators before.

    Args:
        lines: Iterable[str]. Raw texts, one per output line; may be endless.
        model: MultiLabelClassifier. From `load_classifier`.
        tokenizer: Tokenizer. From `load_classifier`.
        config: dict. From `load_classifier`: `max_seq_length`, `classifier.labels` and
            `classifier.thresholds`.
        batch_size: int. Texts per batch, at least 1.
        top_k: int. 0 for the labels the thresholds decide; k > 0 for the k most probable.

    Yields:
        str. Output lines, without line terminators (see `format_predictions`).

    Raises:
        ValueError: batch_size < 1 or top_k < 0 (programming errors).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if top_k < 0:
        raise ValueError(f"top_k must be 0 or more, got {top_k}")
    return _predicted_lines(iter(lines), model, tokenizer, config, batch_size, top_k)


def _predicted_lines(texts, model, tokenizer, config, batch_size, top_k):
    """`predict_lines` after its argument checks (a generator would check only when first
    advanced)."""
    classifier = config["classifier"]
    while batch := list(itertools.islice(texts, batch_size)):
        probabilities = predict_probabilities(
            model, tokenizer, batch, config["max_seq_length"], batch_size
        )
        yield from format_predictions(
            probabilities, classifier["labels"], classifier["thresholds"], top_k
        )
