"""The fine-tuned model directory: what `predict` needs to label raw text.

    config.json              the pretraining bundle's config (backbone, tokenizer), plus the
                             classifier's: problem type, labels, thresholds (multi-label),
                             pooling, whether inputs are text pairs; max sequence length,
                             and the other files' checksums
    vocab.txt                the vocabulary
    classifier.weights.h5    backbone and head weights

Written file by file through temporary names, `config.json` last, as the bundle is.
"""

import os

import numpy as np

import backbones
from backbones.base import model_inputs_example
from bert_tf import bundle, problem_types, weights_file
from bert_tf.errors import InputError

WEIGHTS_FILE = "classifier.weights.h5"


def save_classifier(
    directory,
    *,
    model,
    backbone_name,
    tokenizer,
    labels,
    thresholds,
    max_seq_length,
    text_pairs=False,
):
    """Writes the fine-tuned classifier into `directory` (created if needed).

    Args:
        directory: str.
        model: MultiLabelClassifier or SingleLabelClassifier (its `problem_type` is saved).
        backbone_name: str. Registry name of its backbone.
        tokenizer: Tokenizer.
        labels: list[str]. Label names in output order.
        thresholds: float, np.ndarray [L] or None. Decision thresholds tuned on valid; None
            for single-label (the most probable class).
        max_seq_length: int. Inputs are truncated to this.
        text_pairs: bool. The model takes sentence pairs (`text_a<TAB>text_b`).
    """
    os.makedirs(directory, exist_ok=True)
    weights_file.save_weights(os.path.join(directory, WEIGHTS_FILE), model.weights)
    bundle.write_config(
        directory,
        backbone_name=backbone_name,
        backbone=model.backbone,
        tokenizer=tokenizer,
        max_seq_length=max_seq_length,
        files=[WEIGHTS_FILE],
        classifier={
            "problem_type": model.problem_type,
            "labels": list(labels),
            "thresholds": (
                None if thresholds is None else np.asarray(thresholds, np.float64).tolist()
            ),
            "pooling": model.pooling,
            "text_pairs": bool(text_pairs),
        },
    )


def load_classifier(directory):
    """Rebuilds a saved classifier.

    Returns:
        (model, tokenizer, config): the classifier of its problem type with its weights, its
        Tokenizer, and the config dict (`config["classifier"]` holds the problem type, labels,
        thresholds and whether inputs are pairs; a model saved before these existed is
        multi-label on single texts).

    Raises:
        InputError: a missing, incomplete or inconsistent model directory.
    """
    config = bundle.read_bundle_config(
        directory,
        flag="--model_dir",
        expected="the model directory train_bert_fine_tuning.py writes, <output_dir>/model",
    )
    if "classifier" not in config:
        raise InputError(
            f"{directory}: a pretraining bundle, not a fine-tuned model (expected the model "
            "directory that train_bert_fine_tuning.py writes, <output_dir>/model)"
        )
    tokenizer = bundle.load_tokenizer(directory, config)
    backbone = backbones.build(config["backbone"]["name"], config["backbone"]["config"])
    classifier = config["classifier"]
    classifier.setdefault("problem_type", "multi_label")
    classifier.setdefault("text_pairs", False)
    if classifier["problem_type"] not in problem_types.PROBLEM_TYPES:
        raise InputError(
            f"{directory}: problem type {classifier['problem_type']!r} in its config; expected "
            f"one of {sorted(problem_types.PROBLEM_TYPES)} (a model from a newer version?)"
        )
    problem = problem_types.PROBLEM_TYPES[classifier["problem_type"]]
    model = problem.classifier_class(backbone, len(classifier["labels"]), classifier["pooling"])
    model(model_inputs_example())
    weights_file.load_weights(os.path.join(directory, WEIGHTS_FILE), model.weights)
    return model, tokenizer, config
