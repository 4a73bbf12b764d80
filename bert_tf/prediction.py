"""Labeling raw text with a fine-tuned model: probabilities, their printed form, and a stream
of output lines for `predict_bert.py` (`bert-tf-predict`).

An output line is the labels of one text with their probabilities, most probable first,
tab-separated: `label:0.913`. By default the labels are those the model's problem type decides:
for multi-label, those at or above the thresholds tuned on valid (at least the top-1 label, see
`metrics.decide_labels`); for single-label, the most probable class. With `top_k` > 0, the k
most probable labels whatever the thresholds. A model fine-tuned on sentence pairs reads each
input line as `text_a<TAB>text_b`.
"""

import itertools
from collections.abc import Iterable, Iterator

import numpy as np
import tensorflow as tf

from bert_tf import problem_types
from bert_tf.batching import pad_batch
from bert_tf.classification_data import encode_inputs
from bert_tf.errors import InputError


def predict_probabilities(
    model, tokenizer, texts, max_seq_length, batch_size=64, second_texts=None
) -> np.ndarray:
    """Label probabilities [N, L] for raw texts (sigmoids, or a softmax for single-label).

    Args:
        model: MultiLabelClassifier or SingleLabelClassifier.
        tokenizer: Tokenizer. The model's.
        texts: list[str]. N raw texts (a pair's first texts).
        max_seq_length: int. Texts are truncated to this many tokens, [CLS]/[SEP] included.
        batch_size: int. Texts per forward pass; the result does not depend on it.
        second_texts: list[str] or None. A pair model's second texts, N of them.
    """
    token_ids, segment_ids = encode_inputs(texts, tokenizer, max_seq_length, second_texts)
    if segment_ids is None:
        dataset = tf.data.Dataset.from_tensor_slices({"token_ids": token_ids}).map(
            lambda ex: dict(ex, segment_ids=tf.zeros_like(ex["token_ids"]))
        )
    else:
        dataset = tf.data.Dataset.from_tensor_slices(
            {"token_ids": token_ids, "segment_ids": segment_ids}
        )
    outputs = [
        np.asarray(model.probabilities(model(batch, training=False)))
        for batch in dataset.ragged_batch(batch_size).map(pad_batch)
    ]
    return np.concatenate(outputs) if outputs else np.zeros((0, model.output_layer.units))


def format_predictions(
    probabilities, labels, thresholds, top_k=0, problem_type="multi_label"
) -> list[str]:
    """One line per row, most probable first, as `label:probability`, tab-separated.

    Args:
        probabilities: np.ndarray. Label probabilities [N, L].
        labels: list[str]. The L label names in column order.
        thresholds: float | list[float] | np.ndarray | None. One threshold, or one per label
            [L]; None for single-label.
        top_k: int. 0 prints the labels the problem type decides (multi-label: those the
            thresholds decide, at least the top-1; single-label: the most probable); k > 0
            prints the k most probable labels (all L if k > L), whatever the thresholds.
        problem_type: str. The model's, from its config.

    Raises:
        ValueError: top_k is negative (a programming error).
    """
    if top_k < 0:
        raise ValueError(f"top_k must be 0 or more, got {top_k}")
    if top_k:
        chosen_rows = np.ones(np.shape(probabilities), bool)
    else:
        chosen_rows = problem_types.get(problem_type).decide(probabilities, thresholds)
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
    may be shorter). Texts are taken as given: strip line terminators before. For a model
    fine-tuned on sentence pairs each line is `text_a<TAB>text_b`.

    Args:
        lines: Iterable[str]. Raw texts, one per output line; may be endless.
        model: MultiLabelClassifier or SingleLabelClassifier. From `load_classifier`.
        tokenizer: Tokenizer. From `load_classifier`.
        config: dict. From `load_classifier`: `max_seq_length`, and in `classifier` the
            `problem_type`, `labels`, `thresholds` and `text_pairs`.
        batch_size: int. Texts per batch, at least 1.
        top_k: int. 0 for the labels the model decides; k > 0 for the k most probable.

    Yields:
        str. Output lines, without line terminators (see `format_predictions`).

    Raises:
        ValueError: batch_size < 1 or top_k < 0 (programming errors).
        InputError: (while iterating) a pair model's input line is not two tab-separated
            texts; the message names the line.
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
    first_line = 1
    while batch := list(itertools.islice(texts, batch_size)):
        second_texts = None
        if classifier["text_pairs"]:
            batch, second_texts = _split_pairs(batch, first_line)
        probabilities = predict_probabilities(
            model, tokenizer, batch, config["max_seq_length"], batch_size, second_texts
        )
        yield from format_predictions(
            probabilities,
            classifier["labels"],
            classifier["thresholds"],
            top_k,
            classifier["problem_type"],
        )
        first_line += len(batch)


def _split_pairs(lines, first_line):
    """(first texts, second texts) of lines `text_a<TAB>text_b`; numbered from `first_line`
    for messages. Fields holding only whitespace are no text, as in labeled files."""
    first, second = [], []
    for number, line in enumerate(lines, start=first_line):
        fields = [field for field in line.split("\t") if field.strip()]
        if len(fields) != 2:
            raise InputError(
                f"input line {number}: {len(fields)} tab-separated texts; the model was "
                "fine-tuned on sentence pairs (expected text_a<TAB>text_b)"
            )
        first.append(fields[0])
        second.append(fields[1])
    return first, second
