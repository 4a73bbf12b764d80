"""Stage 2: a pretrained bundle and labeled files to a multi-label or single-label classifier."""

import dataclasses
import math
import os
import time
from typing import ClassVar

import numpy as np
from absl import logging

import backbones
from backbones.base import model_inputs_example
from bert_tf import (
    atomic_write,
    backbone_source,
    cluster,
    distribution,
    freezing,
    layer_decay,
    metrics,
    problem_types,
    run_state,
)
from bert_tf.classification_data import classification_dataset, count_truncated, encode_inputs
from bert_tf.classifier import POOLINGS
from bert_tf.classifier_bundle import save_classifier
from bert_tf.epoch_evaluator import EpochEvaluator
from bert_tf.errors import InputError
from bert_tf.labeled_data import LabelSet, read_labeled_file
from bert_tf.multilabel_losses import LOSSES
from bert_tf.optimization import create_optimizer
from bert_tf.run_config import RunConfig, setting
from bert_tf.tokenization import Tokenizer, TokenizerConfig, learn_vocabulary
from bert_tf.trainer import CHECKPOINT_DIR, Trainer

METRICS_FILE = "metrics.json"
MODEL_DIR = "model"
SPLITS = ("train", "valid", "test")


@dataclasses.dataclass(frozen=True, kw_only=True)
class FinetuneConfig(RunConfig):
    """Settings of a fine-tuning run; each field is a flag of `train_bert_fine_tuning.py`."""

    #: Fine-tuning with dropout whatever the bundle was pretrained with: every benchmark
    #: fine-tunes so.
    RUN_SETTING_DEFAULTS: ClassVar[dict] = {"dropout": 0.1}

    train_file: str = setting(
        "data/train.txt",
        "fastText format: text __label__a ..., or text_a<TAB>text_b __label__a ... for "
        "sentence pairs.",
    )
    valid_file: str = setting("data/valid.txt", "Tunes the threshold; scored every epoch.")
    test_file: str = setting("data/test.txt", "Scored once at the end.")
    output_dir: str = setting("runs/finetune", "Where metrics, model and logs go.")
    init_checkpoint: str = setting(
        "runs/pretrain",
        "Bundle directory from train_bert_lm.py; empty to train without one (the vocabulary is "
        "then learned from the train file).",
    )
    load_weights: bool = setting(
        True,
        "Load the bundle's weights; --noload_weights keeps its vocabulary and architecture "
        "with fresh weights (the no-pretrain arm).",
    )
    pooling: str | None = setting(
        None,
        "mean/max over the token outputs, or the backbone's pooled output. Default: the "
        "backbone's choice, by measurement: "
        + ", ".join(f"{name} {cls.DEFAULT_POOLING}" for name, cls in backbones.BACKBONES.items())
        + ".",
        POOLINGS,
    )
    problem_type: str = setting(
        "multi_label",
        "multi_label: any number of labels a line, a sigmoid each, decided by thresholds tuned "
        "on valid (micro-F1); single_label: exactly one label a line, a softmax over the "
        "classes, the most probable one (accuracy).",
        tuple(problem_types.PROBLEM_TYPES),
    )
    freeze: str = setting(
        "",
        "Backbone weights kept fixed: embeddings; bottom:N (the embeddings and the N lowest "
        "layers); all_but_head (the whole backbone). Empty: train everything.",
    )
    classifier_dropout: float = setting(0.1, "Dropout before the output layer.")
    init_bias_to_priors: bool = setting(
        True,
        "Start the output bias at the labels' log-odds (single_label: the log class shares).",
    )
    epochs: int = setting(
        20,
        "Passes over the train file. 20 measured best on debian-tags train_small (2k lines, "
        "199 labels): macro-F1 kept rising after micro-F1 had flattened; fewer suit a large "
        "train file.",
    )
    learning_rate: float | None = setting(
        None,
        "Peak learning rate of AdamW. Default: the backbone's, chosen on valid by the "
        "pretrain-vs-scratch benchmark: "
        + ", ".join(
            f"{name} {cls.DEFAULT_FINETUNE_LEARNING_RATE:g}"
            for name, cls in backbones.BACKBONES.items()
        )
        + ".",
    )
    warmup_proportion: float = setting(0.1, "Share of the steps spent warming up.")
    layer_decay: float = setting(
        1.0,
        "Layer-wise learning-rate decay: with L blocks, block i (0 the lowest) trains at the "
        "peak rate times this to the power L - i, the embeddings to the power L + 1, the head "
        "at the peak rate. 1: one rate for all (ELECTRA fine-tunes with 0.8).",
    )
    per_label_thresholds: bool = setting(
        False, "Tune one threshold per label on valid (multi_label)."
    )
    threshold_shrinkage: float = setting(
        0.0,
        "With --per_label_thresholds, move a label with n valid positives only n / (n + k) "
        "of the way from the global threshold to its own best (k this value; 0: all the way).",
    )
    loss: str = setting(
        "sigmoid",
        "multi_label's loss: sigmoid cross-entropy; focal (gamma 2); or class_balanced "
        "(positives weighted by the inverse effective number of their label's train examples, "
        "the most frequent label at 1); or class_balanced_sqrt (the square root of those "
        "weights). single_label always uses softmax cross-entropy.",
        LOSSES,
    )
    select_epoch_on: str | None = setting(
        None,
        "The valid figure that chooses the best epoch, the problem type's first by default. "
        + "; ".join(
            f"{name}: {', '.join(problem.epoch_selections)}"
            for name, problem in problem_types.PROBLEM_TYPES.items()
        )
        + ". mean_f1 is the mean of micro- and macro-F1, which counts the rare labels too.",
        problem_types.EPOCH_SELECTIONS,
    )
    restore_best_epoch: bool = setting(
        True,
        "Score test and save the model with the weights of the epoch with the best valid "
        "figure (--select_epoch_on); --norestore_best_epoch keeps the last epoch's.",
    )
    skip_invalid_lines: bool = setting(
        False, "Skip (and count) lines with no label or no text instead of stopping."
    )

    RESUMABLE_CHANGES = (
        "resume",
        "epochs",
        "cluster_timeout",
        "tpu",
        "static_shapes",
        "jit_compile",
        "dtype_policy",
    )

    def validate(self) -> None:
        """Raises InputError for settings no run can use."""
        super().validate()
        if self.epochs <= 0:
            raise InputError(f"--epochs={self.epochs}: expected a positive number")
        if self.max_seq_length < 3:
            raise InputError(
                f"--max_seq_length={self.max_seq_length} cannot hold [CLS] text [SEP]; "
                "expected at least 3"
            )
        if self.pooling is not None and self.pooling not in POOLINGS:
            raise InputError(f"--pooling={self.pooling}: expected one of {POOLINGS}")
        if self.loss not in LOSSES:
            raise InputError(f"--loss={self.loss}: expected one of {LOSSES}")
        if self.threshold_shrinkage < 0:
            raise InputError(
                f"--threshold_shrinkage={self.threshold_shrinkage}: expected 0 or more"
            )
        problem_types.get(self.problem_type).check_settings(self)
        freezing.check_freeze(self.freeze)
        layer_decay.check_layer_decay(self.layer_decay)


@dataclasses.dataclass(frozen=True)
class LabeledData:
    """The three labeled files, the label set (from train) and each split's label matrix.

    Attributes:
        examples: dict split -> LabeledExamples.
        label_set: LabelSet.
        labels: dict split -> np.ndarray float32 [N, L]. Multi-hot (one-hot for single-label).
        unseen: dict split -> {label: count} of labels the train file never had.
    """

    examples: dict
    label_set: LabelSet
    labels: dict
    unseen: dict


def run_finetuning(config: FinetuneConfig) -> dict:
    """Fine-tunes a classifier of `config.problem_type` and writes `metrics.json` and `model/`.

    Returns:
        dict: what `metrics.json` holds.

    Raises:
        InputError: bad flags, files or bundle.
        TrainingError: the loss became NaN or infinite.
    """
    started = time.perf_counter()
    config.validate()  # before the policy is set: it checks the policy's name too
    with run_state.dtype_policy(config.dtype_policy):
        return _run_finetuning(config, started)


def _run_finetuning(config, started):
    strategy = _strategy(config)
    role = cluster.WorkerRole(strategy)
    settings = run_state.run_settings(config, FinetuneConfig.RESUMABLE_CHANGES)
    with role.chief_first():  # a bad file or directory stops every worker, not the chief alone
        data = read_labeled_data(config)
        output_dir = role.working_dir(config.output_dir)
        checkpoint_dir = os.path.join(output_dir, CHECKPOINT_DIR)
        # Another worker resumes whatever the chief has just prepared.
        resuming = run_state.prepare_checkpoint_dir(
            checkpoint_dir, settings, config.resume or not role.is_chief
        )
    with role.discarding():
        train = data.examples["train"]
        source, backbone, restored = prepare_backbone(
            config, train.texts + (train.second_texts or []), strategy
        )
        if not resuming:
            run_state.record_run(checkpoint_dir, settings)
        results = _finetune(
            dataclasses.replace(config, output_dir=output_dir),
            strategy,
            data,
            source,
            backbone,
            restored,
            started,
        )
    written = (
        "metrics and model written to %s" if role.is_chief else "%s: done (the chief wrote %s)"
    )
    logging.info(written, *([] if role.is_chief else [role.task]), config.output_dir)
    return results


def _finetune(config, strategy, data, source, backbone, restored, started) -> dict:
    """Trains the classifier, scores it, and saves it and `metrics.json` into
    `config.output_dir` (this worker's); returns the metrics."""
    checkpoint_dir = os.path.join(config.output_dir, CHECKPOINT_DIR)
    problem = problem_types.get(config.problem_type)
    config = _with_backbone_defaults(config, source.name)
    steps_per_epoch = math.ceil(len(data.examples["train"]) / config.batch_size)
    num_steps = config.epochs * steps_per_epoch
    model, optimizer, frozen = _build_classifier(config, backbone, data, num_steps, strategy)
    trainer = Trainer.in_output_dir(
        model, optimizer, strategy, config.output_dir, "finetune", max_to_keep=1, config=config
    )
    start_step = trainer.restore()
    datasets = _datasets(config, data, source.tokenizer, start_step)
    truncated = report_truncation(config, data, source.tokenizer)
    evaluator = EpochEvaluator(
        model,
        datasets["valid"],
        problem.truth(data.label_set, data.examples["valid"].labels),
        checkpoint_dir,
        steps_per_epoch,
        keep_best=config.restore_best_epoch,
        start_step=start_step,
        problem=problem,
        selection_metric=problem_types.selection_metric(problem, config.select_epoch_on),
    )
    trainer.train(
        datasets["train"],
        num_steps,
        checkpoint_every=steps_per_epoch,
        log_every=max(1, steps_per_epoch // 4),
        on_step=evaluator.on_step,
        on_step_every=steps_per_epoch,
    )
    best_epoch = evaluator.restore_best() if config.restore_best_epoch else evaluator.last_epoch
    results = dict(
        final_scores(config, evaluator, datasets, data),
        history=evaluator.history,
        best_epoch=best_epoch,
        first_step_loss=trainer.first_step_metrics().get("loss"),
        restored=restored,
        parameters=dataclasses.asdict(frozen),
        arm="pretrained" if restored else ("scratch" if config.init_checkpoint else "no_bundle"),
        unseen_labels=data.unseen,
        truncated_examples=truncated,
        wall_seconds=round(time.perf_counter() - started, 1),
        steps=num_steps,
        config=dataclasses.asdict(config),
    )
    _save(config, model, source, data, results)
    return results


def _strategy(config):
    """Seeds the run and returns its tf.distribute strategy, checked against the batch size."""
    run_state.set_seed(config.seed, config.deterministic)
    strategy = distribution.get_strategy(
        config.strategy, tpu=config.tpu, cluster_timeout=config.cluster_timeout
    )
    distribution.check_batch_size(config.batch_size, strategy)
    return strategy


def read_labeled_data(config: FinetuneConfig) -> LabeledData:
    """Reads the three files; reports skipped lines and labels the train file never had.

    Raises:
        InputError: a file that cannot be used (see `read_labeled_file`), single texts in one
            file and pairs in another, or train labels the problem type cannot use.
    """
    problem = problem_types.get(config.problem_type)
    examples = {}
    for split in SPLITS:
        path = getattr(config, f"{split}_file")
        examples[split] = read_labeled_file(
            path, f"{split} file", config.skip_invalid_lines, problem.single_label_lines
        )
        skipped = examples[split].skipped_no_label + examples[split].skipped_no_text
        if skipped:
            logging.warning(
                "%s: skipped %d lines (%d with no label, %d with no text)",
                path,
                skipped,
                examples[split].skipped_no_label,
                examples[split].skipped_no_text,
            )
    _check_same_text_kind(examples)
    problem.check_train_examples(examples["train"])
    label_set = LabelSet.from_examples(examples["train"].labels)
    labels, unseen_report = {}, {}
    for split in SPLITS:
        labels[split], unseen = label_set.encode(examples[split].labels)
        if unseen:
            unseen_report[split] = dict(unseen)
            logging.warning(
                "%s: %d label occurrences (%d distinct labels) never seen in the train file; they "
                "cannot be predicted and %s: %s",
                examples[split].path,
                sum(unseen.values()),
                len(unseen),
                problem.unseen_labels_scored,
                ", ".join(sorted(unseen)[:10]) + (" ..." if len(unseen) > 10 else ""),
            )
    logging.info(
        "%d train, %d valid, %d test examples; %d labels",
        *(len(examples[split]) for split in SPLITS),
        len(label_set),
    )
    return LabeledData(examples, label_set, labels, unseen_report)


def _check_same_text_kind(examples) -> None:
    """Raises InputError unless all three files hold single texts, or all hold pairs."""
    kinds = ("single texts", "sentence pairs (text_a<TAB>text_b)")
    train = examples["train"]
    for split in SPLITS[1:]:
        if examples[split].text_pairs != train.text_pairs:
            raise InputError(
                f"{examples[split].path}: {kinds[examples[split].text_pairs]}, but the train "
                f"file {train.path} has {kinds[train.text_pairs]}; the three files must be alike"
            )


def prepare_backbone(config: FinetuneConfig, train_texts, strategy):
    """The tokenizer and the backbone: the bundle's (its weights loaded unless
    `--noload_weights`), or a new one with a vocabulary learned from the train texts.

    Returns:
        (BackboneSource, the built backbone, what was restored or None).

    Raises:
        InputError: an unusable bundle, flags that contradict it, or weights that do not fit.
    """
    if config.init_checkpoint:
        source = backbone_source.from_bundle(config, config.init_checkpoint)
    else:
        logging.info("no --init_checkpoint: learning the vocabulary from the train file")
        backbone_source.check_new_backbone_settings(config)
        tokenizer_config = TokenizerConfig(
            config.chosen("tokenizer"), cjk_split=config.chosen("cjk_split")
        )
        vocabulary = learn_vocabulary(train_texts, tokenizer_config, config.chosen("vocab_size"))
        source = backbone_source.new_backbone(config, Tokenizer(vocabulary, tokenizer_config))
    backbone = backbone_source.build_backbone(source, strategy)
    restored = None
    if source.bundle_dir and config.load_weights:
        restored = backbone_source.restore_backbone(backbone, source.bundle_dir)
    elif source.bundle_dir:
        logging.info("--noload_weights: the bundle's vocabulary and architecture, fresh weights")
    return source, backbone, restored


def _with_backbone_defaults(config, backbone_name):
    """The config with `--pooling` and `--learning_rate` set to the backbone's defaults where
    they were not given."""
    backbone_class = backbones.get(backbone_name)
    defaults = {
        "pooling": backbone_class.DEFAULT_POOLING,
        "learning_rate": backbone_class.DEFAULT_FINETUNE_LEARNING_RATE,
    }
    unset = {name: value for name, value in defaults.items() if getattr(config, name) is None}
    for name, value in unset.items():
        logging.info("--%s=%s (the %s backbone's default)", name, value, backbone_name)
    return dataclasses.replace(config, **unset)


def _build_classifier(config, backbone, data, num_steps, strategy):
    """The classifier of the problem type, its `--freeze` applied (logged), and an optimizer
    built on what is left trainable; returns (model, optimizer, FreezeSummary)."""
    problem = problem_types.get(config.problem_type)
    with strategy.scope():
        model = problem.build_classifier(backbone, data.labels["train"], config)
        model(model_inputs_example())
        frozen = freezing.freeze_backbone(model, backbone, config.freeze)
        logging.info(
            "%s: %d weights (%.2fM parameters) frozen, %.2fM parameters trainable",
            f"--freeze={config.freeze}" if config.freeze else "no --freeze",
            frozen.frozen_weights,
            frozen.frozen_parameters / 1e6,
            frozen.trainable_parameters / 1e6,
        )
        optimizer = create_optimizer(
            config.learning_rate,
            num_steps,
            int(config.warmup_proportion * num_steps),
            config.weight_decay,
            layer_decay.learning_rate_multipliers(backbone, config.layer_decay),
        )
        optimizer.build(model.trainable_variables)
    return model, optimizer, frozen


def _datasets(config, data, tokenizer, start_step) -> dict:
    """Each split's dataset; a resumed run reshuffles with a new seed rather than replaying
    the first epochs' order."""
    datasets = {}
    for split in SPLITS:
        examples = data.examples[split]
        token_ids, segment_ids = encode_inputs(
            examples.texts, tokenizer, config.max_seq_length, examples.second_texts
        )
        datasets[split] = classification_dataset(
            token_ids,
            data.labels[split],
            batch_size=config.batch_size,
            max_seq_length=config.max_seq_length,
            training=split == "train",
            seed=config.seed + start_step,
            pad_id=tokenizer.special_ids.pad,
            segment_ids=segment_ids,
            static_shapes=config.static_shapes,
        )
    return datasets


#: The share of train examples cut by `--max_seq_length` above which the log warns.
TRUNCATION_WARNING_SHARE = 0.2


def report_truncation(config, data, tokenizer) -> dict:
    """Logs, and returns by split, how many examples `--max_seq_length` cuts: text past it is
    never seen, which costs most where a token is a character (CJK)."""
    truncated = {}
    for split in SPLITS:
        examples = data.examples[split]
        truncated[split] = count_truncated(
            examples.texts, tokenizer, config.max_seq_length, examples.second_texts
        )
        share = truncated[split] / max(1, len(examples))
        warn = split == "train" and share > TRUNCATION_WARNING_SHARE
        log = logging.warning if warn else logging.info
        log(
            "%s: %d of %d examples (%.0f%%) are longer than --max_seq_length=%d tokens and are "
            "cut to it%s",
            split,
            truncated[split],
            len(examples),
            100 * share,
            config.max_seq_length,
            "; a larger --max_seq_length keeps more of each" if truncated[split] else "",
        )
    return truncated


def final_scores(config, evaluator, datasets, data) -> dict:
    """Threshold tuned on valid; valid and test scores with it; the per-label table on test.
    Single-label: `problem_types.SingleLabel.final_scores`."""
    evaluated = {split: evaluator.evaluate(datasets[split]) for split in ("valid", "test")}
    if config.problem_type == "single_label":
        problem = problem_types.get(config.problem_type)
        truths = {s: problem.truth(data.label_set, data.examples[s].labels) for s in evaluated}
        return problem.final_scores(evaluated, truths)
    threshold = metrics.tune_threshold(
        evaluated["valid"][0],
        data.labels["valid"] > 0,
        per_label=config.per_label_thresholds,
        shrinkage=config.threshold_shrinkage,
    )
    results = {}
    for split, (probabilities, loss) in evaluated.items():
        predicted = metrics.decide_labels(probabilities, threshold)
        scores = metrics.multilabel_scores(data.labels[split] > 0, predicted)
        results[split] = dict(
            scores, loss=loss, threshold=np.asarray(threshold, np.float64).tolist()
        )
        logging.info(
            "%s: micro-F1 %.4f macro-F1 %.4f mean %.4f precision %.4f recall %.4f",
            split,
            *(scores[k] for k in ("micro_f1", "macro_f1", "mean_f1", "precision", "recall")),
        )
    rows = metrics.per_label_scores(data.labels["test"] > 0, predicted, data.label_set.names)
    results["test_per_label"] = rows
    logging.info("per-label scores on test:\n%s", metrics.format_per_label_table(rows))
    return results


def _save(config, model, source, data, results) -> None:
    """Writes `model/` and then `metrics.json` (its presence marks a finished run)."""
    save_classifier(
        os.path.join(config.output_dir, MODEL_DIR),
        model=model,
        backbone_name=source.name,
        tokenizer=source.tokenizer,
        labels=data.label_set.names,
        thresholds=results["valid"].get("threshold"),
        max_seq_length=config.max_seq_length,
        text_pairs=data.examples["train"].text_pairs,
    )
    atomic_write.write_json(os.path.join(config.output_dir, METRICS_FILE), results)
