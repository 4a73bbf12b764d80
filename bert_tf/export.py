"""Export of a fine-tuned model as one SavedModel, from raw strings to labels.

The SavedModel needs only `tensorflow` and `tensorflow_text` to run: tokenization (the
tensorflow-text ops and the vocabulary's lookup table), normalization, truncation, the model,
the decision rule with its tuned thresholds and the label names are all in its graph. Its
`serving_default` signature, the one TF Serving calls:

    inputs   text            tf.string  [N]     raw UTF-8 text
    outputs  probabilities   float32    [N, L]  one probability per label
             labels_mask     bool       [N, L]  the labels decided for each text
             top_labels      tf.string  [N, K]  the K most probable label names, best first
             top_scores      float32    [N, K]  their probabilities

A model fine-tuned on sentence pairs takes each text as `text_a<TAB>text_b` (split at the first
tab; a text without one is A with an empty B). It also keeps `label_names()` (tf.string [L], in
column order) and `text_pairs()` (tf.bool []) as functions for Python users.
The SavedModel goes to `<base>/<version>`, the layout TF Serving reads, through a temporary
directory and a rename, so a crash never leaves a half-written version.
"""

import dataclasses
import os

import tensorflow as tf

from bert_tf import atomic_write
from bert_tf.classification_data import (
    encode_batch,
    encode_pair_batch,
    pair_features,
    single_segment_features,
)
from bert_tf.classifier_bundle import load_classifier
from bert_tf.errors import InputError
from bert_tf.exported_model import INPUT_NAME, SIGNATURE_NAME
from bert_tf.run_config import setting


def multi_label_decision(logits, thresholds):
    """Sigmoid probabilities, and each label at or above its threshold plus the top-1 label (as
    `metrics.decide_labels` decides): logits [N, L], thresholds [] or [L] -> ([N, L], [N, L])."""
    probabilities = tf.sigmoid(logits)
    top1 = tf.one_hot(
        tf.argmax(probabilities, axis=1), tf.shape(probabilities)[1], on_value=True, off_value=False
    )
    return probabilities, (probabilities >= thresholds) | top1


def single_label_decision(logits, thresholds):
    """Softmax probabilities, and the most probable class alone (thresholds are unused): logits
    [N, C] -> ([N, C], [N, C])."""
    del thresholds  # one class a text: nothing to tune
    probabilities = tf.nn.softmax(logits, axis=-1)
    decided = tf.one_hot(
        tf.argmax(probabilities, axis=1), tf.shape(probabilities)[1], on_value=True, off_value=False
    )
    return probabilities, decided


#: The decision rule of each `problem_type` a fine-tuned model's config may name.
DECISION_RULES = {"multi_label": multi_label_decision, "single_label": single_label_decision}


class ServingModule(tf.Module):
    """A fine-tuned classifier with its tokenizer, thresholds and label names, callable on raw
    strings in the graph.

    Args:
        model: MultiLabelClassifier or SingleLabelClassifier. With its weights.
        tokenizer: Tokenizer. The model's.
        config: dict. The model directory's config (`max_seq_length`, `classifier` with its
            `problem_type`, `labels`, `thresholds` and `text_pairs`).
        top_k: int. K, the number of most probable labels returned (at most L).

    Raises:
        InputError: the config names a problem type this version cannot decide.
    """

    def __init__(self, model, tokenizer, config, top_k):
        super().__init__(name="bert_tf_serving")
        classifier = config["classifier"]
        problem_type = classifier.get("problem_type", "multi_label")
        if problem_type not in DECISION_RULES:
            raise InputError(
                f"problem type {problem_type!r} cannot be exported; expected one of "
                f"{sorted(DECISION_RULES)}"
            )
        self.model = model
        # Attached so the SavedModel tracks (and saves) the vocabulary's lookup table.
        self.tokenizer_resources = tokenizer.resources
        self._tokenizer = tokenizer
        self._decide = DECISION_RULES[problem_type]
        self._max_seq_length = config["max_seq_length"]
        self._labels = tf.constant(classifier["labels"], tf.string)
        thresholds = classifier["thresholds"]
        self._thresholds = tf.constant(0.0 if thresholds is None else thresholds, tf.float32)
        self._text_pairs = bool(classifier.get("text_pairs", False))
        self._top_k = min(top_k, len(classifier["labels"]))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
    def serve(self, text):
        pad_id = self._tokenizer.special_ids.pad
        if self._text_pairs:
            fields = tf.strings.split(text, "\t", maxsplit=1).to_tensor("", shape=[None, 2])
            token_ids, segment_ids = encode_pair_batch(
                fields[:, 0], fields[:, 1], self._tokenizer, self._max_seq_length
            )
            features = pair_features(token_ids, segment_ids, pad_id)
        else:
            token_ids = encode_batch(text, self._tokenizer, self._max_seq_length)
            features = single_segment_features(token_ids, pad_id)
        logits = self.model(features, training=False)
        probabilities, labels_mask = self._decide(logits, self._thresholds)
        top_scores, top_indices = tf.math.top_k(probabilities, k=self._top_k)
        return {
            "probabilities": probabilities,
            "labels_mask": labels_mask,
            "top_labels": tf.gather(self._labels, top_indices),
            "top_scores": top_scores,
        }

    @tf.function(input_signature=[])
    def label_names(self):
        return self._labels

    @tf.function(input_signature=[])
    def text_pairs(self):
        return tf.constant(self._text_pairs)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExportConfig:
    """What `bert-tf-export` takes."""

    model_dir: str = setting("runs/finetune/model", "A model directory from fine-tuning.")
    export_dir: str = setting(
        "exported/bert_tf/1",
        "Where the SavedModel goes: <base>/<version>, the version a new positive integer "
        "(TF Serving's layout; bert-tf-serve --export_dir=<base> serves the newest).",
    )
    top_k: int = setting(
        5, "K, the number of most probable labels (top_labels, top_scores) the export returns."
    )


def export_classifier(config: ExportConfig) -> str:
    """Writes the fine-tuned model in `config.model_dir` as a SavedModel at `config.export_dir`.

    Args:
        config: ExportConfig. The version directory must not exist (a version, once served, is
            never changed); a `top_k` above the number of labels gives all of them.

    Returns:
        str: the export directory.

    Raises:
        InputError: a bad model directory, a version that is not a number or already exists,
            or top_k < 1.
    """
    export_dir = config.export_dir
    version = os.path.basename(os.path.normpath(export_dir))
    if not version.isdigit() or int(version) < 1:
        raise InputError(
            f"--export_dir={export_dir}: expected <base>/<version>, the version a positive "
            "integer (e.g. exported/bert_tf/1), the layout TF Serving reads"
        )
    if os.path.exists(export_dir):
        raise InputError(
            f"--export_dir={export_dir}: already exists; export to a new version number"
        )
    if config.top_k < 1:
        raise InputError(f"--top_k={config.top_k}: expected a positive number")
    model, tokenizer, model_config = load_classifier(config.model_dir)
    module = ServingModule(model, tokenizer, model_config, config.top_k)
    os.makedirs(os.path.dirname(os.path.normpath(export_dir)) or ".", exist_ok=True)
    with atomic_write.atomic_directory(export_dir) as temporary:
        tf.saved_model.save(
            module,
            temporary,
            signatures={SIGNATURE_NAME: module.serve.get_concrete_function()},
        )
    return export_dir
