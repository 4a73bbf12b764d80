"""Labeling raw text with a fine-tuned model, rebuilt from its model directory or loaded from
its export: probabilities, decisions, their printed form, and a stream of output lines for
`predict_bert.py` (`bert-tf-predict`).

An output line is the labels of one text with their probabilities, most probable first,
tab-separated: `label:0.913`. By default the labels are those the model decides (the
thresholds tuned on valid, at least the top-1 label, see `metrics.decide_labels`); with
`top_k` > 0, the k most probable labels whatever the thresholds.
"""

import itertools
from collections.abc import Iterable, Iterator

import numpy as np
import tensorflow as tf

from bert_tf import metrics
from bert_tf.classification_data import encode_texts, single_segment_features
from bert_tf.classifier_bundle import load_classifier
from bert_tf.exported_model import is_export, load_exported


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
    batches = tf.data.Dataset.from_tensor_slices(ids).ragged_batch(batch_size)
    outputs = [
        tf.sigmoid(
            model(single_segment_features(batch, tokenizer.special_ids.pad), training=False)
        ).numpy()
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
        self.labels = self.config["classifier"]["labels"]

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities [N, L] and the decided labels, bool [N, L]."""
        probabilities = predict_probabilities(
            self.model, self.tokenizer, texts, self.config["max_seq_length"], max(1, len(texts))
        )
        decided = metrics.decide_labels(
            probabilities, np.asarray(self.config["classifier"]["thresholds"])
        )
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
    may be shorter). Texts are taken as given: strip line terminators before.

    Args:
        lines: Iterable[str]. Raw texts, one per output line; may be endless.
        predictor: ClassifierPredictor | ExportPredictor. From `load_predictor`.
        batch_size: int. Texts per batch, at least 1.
        top_k: int. 0 for the labels the model decides; k > 0 for the k most probable.

    Yields:
        str. Output lines, without line terminators (see `format_predictions`).

    Raises:
        ValueError: batch_size < 1 or top_k < 0 (programming errors).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if top_k < 0:
        raise ValueError(f"top_k must be 0 or more, got {top_k}")
    return _predicted_lines(iter(lines), predictor, batch_size, top_k)


def _predicted_lines(texts, predictor, batch_size, top_k):
    """`predict_lines` after its argument checks (a generator would check only when first
    advanced)."""
    while batch := list(itertools.islice(texts, batch_size)):
        probabilities, decided = predictor(batch)
        yield from format_predictions(probabilities, decided, predictor.labels, top_k)
