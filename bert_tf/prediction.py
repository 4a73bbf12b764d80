"""Labeling raw text with a fine-tuned model, rebuilt from its model directory or loaded from
its export: probabilities, decisions, their printed form, and a stream of output lines for
`predict_bert.py` (`bert-tf-predict`).

An output line is the labels of one text with their probabilities, most probable first,
tab-separated: `label:0.913`. By default the labels are those the model decides: for
multi-label, those at or above the thresholds tuned on valid (at least the top-1 label, see
`metrics.decide_labels`); for single-label, the most probable class. With `top_k` > 0, the k
most probable labels whatever was decided. A model fine-tuned on sentence pairs reads each input
line as `text_a<TAB>text_b`.
"""

import itertools
from collections.abc import Iterable, Iterator

import numpy as np
import tensorflow as tf

from bert_tf import problem_types
from bert_tf.batching import pad_batch
from bert_tf.classification_data import encode_inputs
from bert_tf.classifier_bundle import load_classifier
from bert_tf.errors import InputError
from bert_tf.exported_model import is_export, load_exported


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
        segment_ids = tf.zeros_like(token_ids)
    batches = tf.data.Dataset.from_tensor_slices(
        {"token_ids": token_ids, "segment_ids": segment_ids}
    ).ragged_batch(batch_size)
    outputs = [
        np.asarray(
            model.probabilities(model(pad_batch(batch, tokenizer.special_ids.pad), training=False))
        )
        for batch in batches
    ]
    return np.concatenate(outputs) if outputs else np.zeros((0, model.output_layer.units))


class ClassifierPredictor:
    """A model directory's classifier, rebuilt with Keras: texts -> probabilities, decisions.

    Args:
        directory: str. A model directory written by fine-tuning.

    Raises:
        InputError: a missing, incomplete or inconsistent model directory.
    """

    def __init__(self, directory: str):
        self.model, self.tokenizer, self.config = load_classifier(directory)
        classifier = self.config["classifier"]
        self.labels = classifier["labels"]
        self.text_pairs = classifier["text_pairs"]
        self._problem = problem_types.get(classifier["problem_type"])

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities [N, L] and the decided labels, bool [N, L]. A pair model splits each
        text at its first tab (`text_a<TAB>text_b`; no tab: an empty B), as its export does."""
        second_texts = None
        if self.text_pairs:
            pairs = [text.partition("\t") for text in texts]
            texts, second_texts = [a for a, _, _ in pairs], [b for _, _, b in pairs]
        probabilities = predict_probabilities(
            self.model,
            self.tokenizer,
            texts,
            self.config["max_seq_length"],
            max(1, len(texts)),
            second_texts,
        )
        decided = self._problem.decide(probabilities, self.config["classifier"]["thresholds"])
        return probabilities, decided


class ExportPredictor:
    """An exported SavedModel (one version, or the newest under a base directory): texts ->
    probabilities, decisions, both computed in its graph.

    Args:
        directory: str. What `export_classifier` wrote, or its base directory.

    Raises:
        InputError: no SavedModel there.
    """

    def __init__(self, directory: str):
        self.model = load_exported(directory)
        self.labels = self.model.labels
        self.text_pairs = self.model.text_pairs

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities [N, L] and the decided labels, bool [N, L]."""
        outputs = self.model(texts)
        return outputs["probabilities"], outputs["labels_mask"]


def load_predictor(directory: str):
    """An `ExportPredictor` for an export (or a base of versions), else a
    `ClassifierPredictor` for a fine-tuned model directory.

    Raises:
        InputError: neither of the two.
    """
    return ExportPredictor(directory) if is_export(directory) else ClassifierPredictor(directory)


def format_predictions(probabilities, decided, labels, top_k=0) -> list[str]:
    """One line per row, most probable first, as `label:probability`, tab-separated.

    Args:
        probabilities: np.ndarray. Label probabilities [N, L].
        decided: np.ndarray. bool [N, L], the labels decided (see `metrics.decide_labels`).
        labels: list[str]. The L label names in column order.
        top_k: int. 0 prints the decided labels; k > 0 prints the k most probable labels (all L
            if k > L), whatever was decided.

    Raises:
        ValueError: top_k is negative (a programming error).
    """
    if top_k < 0:
        raise ValueError(f"top_k must be 0 or more, got {top_k}")
    chosen_rows = np.ones(np.shape(probabilities), bool) if top_k else decided
    lines = []
    for row, chosen in zip(probabilities, chosen_rows):
        order = [j for j in np.argsort(-row) if chosen[j]]
        if top_k:
            order = order[:top_k]
        lines.append("\t".join(f"{labels[j]}:{row[j]:.3f}" for j in order))
    return lines


def predict_lines(
    lines: Iterable[str], predictor, batch_size: int = 64, top_k: int = 0
) -> Iterator[str]:
    """Labels a stream of texts batch by batch: one output line per input line, in order.

    Reads `batch_size` lines, predicts them, yields their output lines, and only then reads
    the next batch, so a caller that flushes after each batch works in a pipe (the last batch
    may be shorter). Texts are taken as given: strip line terminators before. For a model
    fine-tuned on sentence pairs each line is `text_a<TAB>text_b`.

    Args:
        lines: Iterable[str]. Raw texts, one per output line; may be endless.
        predictor: ClassifierPredictor | ExportPredictor. From `load_predictor`.
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
    return _predicted_lines(iter(lines), predictor, batch_size, top_k)


def _predicted_lines(texts, predictor, batch_size, top_k):
    """`predict_lines` after its argument checks (a generator would check only when first
    advanced)."""
    first_line = 1
    while batch := list(itertools.islice(texts, batch_size)):
        if predictor.text_pairs:
            batch = [_pair_text(line, number) for number, line in enumerate(batch, first_line)]
        probabilities, decided = predictor(batch)
        yield from format_predictions(probabilities, decided, predictor.labels, top_k)
        first_line += len(batch)


def _pair_text(line, number):
    """`text_a<TAB>text_b` from an input line of a pair model, whose texts are its two
    tab-separated fields that hold more than whitespace (as in labeled files).

    Raises:
        InputError: the line does not hold exactly two texts (naming its number).
    """
    fields = [field for field in line.split("\t") if field.strip()]
    if len(fields) != 2:
        raise InputError(
            f"input line {number}: {len(fields)} tab-separated texts; the model was "
            "fine-tuned on sentence pairs (expected text_a<TAB>text_b)"
        )
    return "\t".join(fields)
