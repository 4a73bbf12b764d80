"""What an importer reads from a published checkpoint, and the bundle written from it.

An importer (Google's TF1 release, a keras-hub preset) turns its source into an
`ImportedCheckpoint`: the Transformer backbone's constructor kwargs, the tokenizer the source
used, and every weight as an array under the path it has in this project's Transformer (and in
the task heads), each with the source variable it came from. `write_bundle` builds the model,
assigns every weight strictly (a weight the source lacks, or one of another shape, is an error
naming the source variable) and writes a standard bundle, atomically: into a temporary
directory that is renamed at the end, so bad input leaves no bundle behind.

This is the one place in `bert_tf` that names a backbone and the task heads: it converts into
them, as keras-hub's `convert_bert.py` converts into its `BertBackbone`.
"""

import dataclasses
import os
import shutil

import numpy as np
from absl import logging

import backbones
import pretrain_tasks
from backbones.base import model_inputs_example
from bert_tf import bundle
from bert_tf.errors import InputError
from bert_tf.pretraining_model import PretrainingModel
from bert_tf.tokenization import Tokenizer

#: The backbone BERT checkpoints are imported into.
BACKBONE = "transformer"
#: Task heads an importer may fill, in the order the bundle lists them.
HEAD_TASKS = ("masked_lm", "next_sentence")


@dataclasses.dataclass(frozen=True)
class SourceWeight:
    """One weight converted to this project's layout, and where it came from.

    Attributes:
        array: np.ndarray. The value, in the shape of the model's variable.
        source: str. The source's name for it (e.g. `bert/pooler/dense/kernel`), for messages.
    """

    array: np.ndarray
    source: str


@dataclasses.dataclass(frozen=True)
class ImportedCheckpoint:
    """A checkpoint read into this project's terms, ready for `write_bundle`.

    Attributes:
        source_format: str. `google_bert` or `keras_hub_preset`.
        source_dir: str. The directory it was read from.
        backbone_config: dict. The Transformer's constructor kwargs.
        tokenizer: Tokenizer. The source's vocabulary, normalized as the source's tokenizer did.
        backbone_weights: dict[str, SourceWeight]. By the backbone variable's path.
        head_weights: dict[str, dict[str, SourceWeight]]. By task name (of `HEAD_TASKS`), then
            by the path under that task's head; only the heads the source has.
        notes: list[str]. What the import decided (tokenizer settings, ignored variables), for
            the log and the bundle's training summary.
    """

    source_format: str
    source_dir: str
    backbone_config: dict
    tokenizer: Tokenizer
    backbone_weights: dict
    head_weights: dict
    notes: list


def check_output_dir(output_dir: str) -> None:
    """Raises InputError unless `output_dir` is new or an empty directory (an import never
    overwrites a bundle)."""
    if os.path.exists(output_dir) and (not os.path.isdir(output_dir) or os.listdir(output_dir)):
        raise InputError(
            f"--output_dir={output_dir} exists and is not an empty directory; choose a new one"
        )


def write_bundle(checkpoint: ImportedCheckpoint, output_dir: str) -> dict:
    """Builds the Transformer (and heads), assigns the imported weights strictly and writes the
    bundle into `output_dir`.

    Returns:
        dict: the bundle's training summary (`imported_from`: format, source, weights and
        parameters restored, heads, notes).

    Raises:
        InputError: `output_dir` is not new, or a weight is missing or does not fit.
    """
    check_output_dir(output_dir)
    config = checkpoint.backbone_config
    tokenizer = checkpoint.tokenizer
    backbone = backbones.build(BACKBONE, config)
    head_names = [name for name in HEAD_TASKS if name in checkpoint.head_weights]
    tasks = head_names and pretrain_tasks.build_tasks(
        head_names,
        tokenizer.vocabulary_size,
        config["max_sequence_length"],
        special_ids=tokenizer.special_ids,
    )
    model = PretrainingModel(backbone, tasks)
    model(dict(model_inputs_example(), masked_lm_positions=np.zeros((1, 1), np.int32)))
    count, parameters = _assign_strictly(
        backbone.weights, checkpoint.backbone_weights, checkpoint.source_dir
    )
    for task in tasks:
        prefix = model.head_path(task.name)
        weights = {prefix + path: w for path, w in checkpoint.head_weights[task.name].items()}
        head_count, head_parameters = _assign_strictly(
            model.head_variables([task.name]), weights, checkpoint.source_dir
        )
        count, parameters = count + head_count, parameters + head_parameters
    summary = {
        "imported_from": {
            "format": checkpoint.source_format,
            "directory": checkpoint.source_dir,
            "weights": count,
            "parameters": parameters,
            "backbone_weights": len(backbone.weights),
            "heads": [task.name for task in tasks],
            "notes": list(checkpoint.notes),
        }
    }
    temporary = f"{output_dir.rstrip(os.sep)}.tmp-{os.getpid()}"
    try:
        bundle.save_bundle(
            temporary,
            backbone_name=BACKBONE,
            backbone=backbone,
            tokenizer=tokenizer,
            max_seq_length=config["max_sequence_length"],
            tasks=tasks,
            training_summary=summary,
            head_variables=model.head_variables(),
        )
        os.replace(temporary, output_dir)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    logging.info(
        "imported %d weights (%.1fM parameters; heads: %s) from %s into %s",
        count,
        parameters / 1e6,
        ", ".join(summary["imported_from"]["heads"]) or "none",
        checkpoint.source_dir,
        output_dir,
    )
    return summary


def _assign_strictly(variables, weights: dict, source_dir: str) -> tuple[int, int]:
    """Assigns each variable the weight under its path; returns (weights, parameters).

    Raises:
        InputError: naming the variables the source lacks, source weights no variable takes,
            and weights of another shape (by their source names).
    """
    wanted = {v.path: v for v in variables}
    problems = []
    missing = sorted(set(wanted) - set(weights))
    if missing:
        problems.append(f"nothing in the source for {', '.join(missing)}")
    unused = sorted(weights[path].source for path in set(weights) - set(wanted))
    if unused:
        problems.append(f"no place in the model for {', '.join(unused)}")
    for path in sorted(set(wanted) & set(weights)):
        shape, array = tuple(wanted[path].shape), weights[path].array
        if array.shape != shape:
            problems.append(
                f"{weights[path].source} has shape {array.shape}, the model's {path} {shape}"
            )
    if problems:
        raise InputError(f"{source_dir}: the weights do not fit; " + "; ".join(problems))
    for path, variable in wanted.items():
        variable.assign(weights[path].array.astype(variable.dtype))
    return len(wanted), int(sum(weights[path].array.size for path in wanted))
