"""Stage 2: a pretrained bundle and labeled files to a multi-label classifier."""

import dataclasses
import json
import math
import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

import backbones
from backbones.base import model_inputs_example
from bert_tf import atomic_write, bundle, distribution, metrics, run_state, weights_file
from bert_tf.classification_data import classification_dataset, encode_texts
from bert_tf.classifier import POOLINGS, MultiLabelClassifier, prior_log_odds
from bert_tf.classifier_bundle import save_classifier
from bert_tf.errors import InputError
from bert_tf.labeled_data import LabelSet, read_labeled_file
from bert_tf.optimization import create_optimizer
from bert_tf.tokenization import Tokenizer, TokenizerConfig, learn_vocabulary
from bert_tf.trainer import Trainer

METRICS_FILE = "metrics.json"
MODEL_DIR = "model"


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    """Settings of a fine-tuning run; field names equal the flags of
    `train_bert_fine_tuning.py`."""

    train_file: str
    valid_file: str
    test_file: str
    output_dir: str
    init_checkpoint: str = ""
    load_weights: bool = True
    backbone: str = "transformer"
    model_size: str = "tiny"
    backbone_overrides: dict = dataclasses.field(default_factory=dict)
    tokenizer: str = "wordpiece"
    vocab_size: int = 8000
    pooling: str | None = None  # None: the backbone's DEFAULT_POOLING
    classifier_dropout: float = 0.1
    init_bias_to_priors: bool = True
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    warmup_proportion: float = 0.1
    max_seq_length: int = 128
    per_label_thresholds: bool = False
    restore_best_epoch: bool = True
    skip_invalid_lines: bool = False
    seed: int = 0
    deterministic: bool = False
    strategy: str = "default"
    resume: bool = True

    #: Settings a resumed run may change (the rest must match the run it continues).
    RESUMABLE_CHANGES = ("resume", "epochs")

    def validate(self) -> None:
        """Raises InputError for settings no run can use."""
        for name in ("epochs", "batch_size", "vocab_size"):
            if getattr(self, name) <= 0:
                raise InputError(f"--{name}={getattr(self, name)}: expected a positive number")
        if self.learning_rate <= 0:
            raise InputError(f"--learning_rate={self.learning_rate}: expected a positive number")
        if self.max_seq_length < 3:
            raise InputError(
                f"--max_seq_length={self.max_seq_length} cannot hold [CLS] text [SEP]; "
                "expected at least 3"
            )
        if self.pooling is not None and self.pooling not in POOLINGS:
            raise InputError(f"--pooling={self.pooling}: expected one of {POOLINGS}")


def _read_examples(config: FinetuneConfig):
    """Reads the three files; reports skipped lines and labels the train file never had."""
    files = {}
    for split, path in (
        ("train", config.train_file),
        ("valid", config.valid_file),
        ("test", config.test_file),
    ):
        examples = read_labeled_file(path, f"{split} file", config.skip_invalid_lines)
        skipped = examples.skipped_no_label + examples.skipped_no_text
        if skipped:
            logging.warning(
                "%s: skipped %d lines (%d with no label, %d with no text)",
                path,
                skipped,
                examples.skipped_no_label,
                examples.skipped_no_text,
            )
        files[split] = examples
    label_set = LabelSet.from_examples(files["train"].labels)
    encoded, unseen_report = {}, {}
    for split, examples in files.items():
        matrix, unseen = label_set.encode(examples.labels)
        encoded[split] = matrix
        if unseen:
            unseen_report[split] = dict(unseen)
            logging.warning(
                "%s: %d label occurrences (%d distinct labels) never seen in the train file; they "
                "cannot be predicted and are left out of the scores: %s",
                examples.path,
                sum(unseen.values()),
                len(unseen),
                ", ".join(sorted(unseen)[:10]) + (" ..." if len(unseen) > 10 else ""),
            )
    return files, label_set, encoded, unseen_report


def _tokenizer_and_backbone(config: FinetuneConfig, train_texts, strategy):
    """The tokenizer and the backbone: from the bundle (its weights loaded or not), or new."""
    if config.init_checkpoint:
        bundle_config = bundle.read_bundle_config(config.init_checkpoint)
        tokenizer = bundle.load_tokenizer(config.init_checkpoint, bundle_config)
        name = bundle_config["backbone"]["name"]
        backbone_config = bundle_config["backbone"]["config"]
    else:
        logging.info("no --init_checkpoint: learning the vocabulary from the train file")
        tokenizer_config = TokenizerConfig(config.tokenizer)
        tokenizer = Tokenizer(
            learn_vocabulary(train_texts, tokenizer_config, config.vocab_size), tokenizer_config
        )
        name = config.backbone
        backbone_config = backbones.backbone_config(
            name,
            tokenizer.vocabulary_size,
            config.model_size,
            max_sequence_length=config.max_seq_length,
            **config.backbone_overrides,
        )
    positions = backbone_config.get("max_sequence_length", config.max_seq_length)
    if config.max_seq_length > positions:
        raise InputError(
            f"--max_seq_length={config.max_seq_length} is longer than the {positions} positions "
            "the backbone has; lower it"
        )
    with strategy.scope():
        backbone = backbones.build(name, backbone_config)
        backbone(model_inputs_example())
    restored = None
    if config.init_checkpoint and config.load_weights:
        path = os.path.join(config.init_checkpoint, bundle.BACKBONE_WEIGHTS_FILE)
        count, parameters = weights_file.load_weights(path, backbone.weights)
        restored = {"weights": count, "parameters": parameters, "from": config.init_checkpoint}
        logging.info(
            "restored %d weights (%.1fM parameters) from %s",
            count,
            parameters / 1e6,
            config.init_checkpoint,
        )
    elif config.init_checkpoint:
        logging.info("--noload_weights: the bundle's vocabulary and architecture, fresh weights")
    return tokenizer, name, backbone, restored


def _evaluate(logits_of, dataset):
    """Probabilities [N, L] and the mean sigmoid cross-entropy over a dataset.

    Args:
        logits_of: callable(batch) -> logits [B, L]. The model's compiled inference.
        dataset: tf.data.Dataset. Evaluation batches with `labels`.
    """
    probabilities, losses = [], []
    for batch in dataset:
        logits = logits_of(batch)
        losses.append(
            tf.keras.losses.binary_crossentropy(batch["labels"], logits, from_logits=True).numpy()
        )
        probabilities.append(tf.sigmoid(logits).numpy())
    return np.concatenate(probabilities), float(np.concatenate(losses).mean())


def run_finetuning(config: FinetuneConfig) -> dict:
    """Fine-tunes a multi-label classifier and writes `metrics.json` and `model/`.

    Returns:
        dict: what `metrics.json` holds.

    Raises:
        InputError: bad flags, files or bundle.
        TrainingError: the loss became NaN or infinite.
    """
    started = time.perf_counter()
    config.validate()
    run_state.set_seed(config.seed, config.deterministic)
    strategy = distribution.get_strategy(config.strategy)
    distribution.check_batch_size(config.batch_size, strategy)
    checkpoint_dir = os.path.join(config.output_dir, "checkpoints")
    settings = run_state.run_settings(config, FinetuneConfig.RESUMABLE_CHANGES)
    resuming = run_state.prepare_checkpoint_dir(checkpoint_dir, settings, config.resume)

    files, label_set, labels, unseen = _read_examples(config)
    logging.info(
        "%d train, %d valid, %d test examples; %d labels",
        len(files["train"]),
        len(files["valid"]),
        len(files["test"]),
        len(label_set),
    )
    tokenizer, backbone_name, backbone, restored = _tokenizer_and_backbone(
        config, files["train"].texts, strategy
    )
    if not resuming:
        run_state.record_run(checkpoint_dir, settings)
    if config.pooling is None:
        config = dataclasses.replace(config, pooling=backbones.get(backbone_name).DEFAULT_POOLING)
        logging.info("--pooling=%s (the %s backbone's default)", config.pooling, backbone_name)
    steps_per_epoch = math.ceil(len(files["train"]) / config.batch_size)
    num_steps = config.epochs * steps_per_epoch
    with strategy.scope():
        model = MultiLabelClassifier(
            backbone,
            len(label_set),
            config.pooling,
            config.classifier_dropout,
            prior_log_odds(labels["train"]) if config.init_bias_to_priors else None,
        )
        model(model_inputs_example())
        optimizer = create_optimizer(
            config.learning_rate,
            num_steps,
            int(config.warmup_proportion * num_steps),
            config.weight_decay,
        )
        optimizer.build(model.trainable_variables)
    trainer = Trainer(
        model,
        optimizer,
        model.loss_and_metrics,
        strategy,
        checkpoint_dir,
        os.path.join(config.output_dir, "logs", "finetune"),
        max_to_keep=1,
    )
    start_step = trainer.restore()
    # A resumed run reshuffles with a new seed rather than replaying the first epochs' order.
    datasets = {
        split: classification_dataset(
            encode_texts(files[split].texts, tokenizer, config.max_seq_length),
            labels[split],
            batch_size=config.batch_size,
            max_seq_length=config.max_seq_length,
            training=split == "train",
            seed=config.seed + start_step,
        )
        for split in files
    }
    # One graph for every batch shape: eager calls are several times slower.
    logits_of = tf.function(
        lambda batch: model(batch, training=False),
        input_signature=[datasets["valid"].element_spec],
    )
    history_path = os.path.join(checkpoint_dir, "history.json")
    history = []
    if start_step and os.path.isfile(history_path):
        with open(history_path, encoding="utf-8") as f:
            history = [h for h in json.load(f) if h["epoch"] <= start_step // steps_per_epoch]
    epoch_losses = []

    def keep_if_best(entry):
        """Saves the epoch's weights when its valid micro-F1 is the best so far."""
        earlier = [e["valid_micro_f1"] for e in history if e["epoch"] < entry["epoch"]]
        if config.restore_best_epoch and all(f1 < entry["valid_micro_f1"] for f1 in earlier):
            path = _best_weights_path(checkpoint_dir, entry["epoch"])
            weights_file.save_weights(path, model.weights)

    def end_of_epoch(step, step_metrics):
        epoch_losses.append(step_metrics["loss"])
        if step % steps_per_epoch:
            return None
        probabilities, valid_loss = _evaluate(logits_of, datasets["valid"])
        threshold = metrics.tune_threshold(probabilities, labels["valid"] > 0)
        scores = metrics.multilabel_scores(
            labels["valid"] > 0, metrics.decide_labels(probabilities, threshold)
        )
        entry = {
            "epoch": step // steps_per_epoch,
            "train_loss": float(np.mean(epoch_losses)),
            "valid_loss": valid_loss,
            "valid_micro_f1": scores["micro_f1"],
            "valid_macro_f1": scores["macro_f1"],
            "valid_threshold": float(threshold),
        }
        epoch_losses.clear()
        history.append(entry)
        keep_if_best(entry)
        atomic_write.write_json(history_path, history)
        logging.info(
            "epoch %d: train loss %.4f, valid loss %.4f, valid micro-F1 %.4f, macro-F1 %.4f",
            entry["epoch"],
            entry["train_loss"],
            valid_loss,
            scores["micro_f1"],
            scores["macro_f1"],
        )
        return {f"valid/{k}": v for k, v in entry.items() if k != "epoch"}

    trainer.train(
        datasets["train"],
        num_steps,
        checkpoint_every=steps_per_epoch,
        log_every=max(1, steps_per_epoch // 4),
        on_step=end_of_epoch,
    )
    best_epoch = _restore_best_epoch(config, checkpoint_dir, history, model)
    results = _final_scores(config, logits_of, datasets, labels, label_set)
    results.update(
        history=history,
        best_epoch=best_epoch,
        first_step_loss=trainer.first_step_metrics().get("loss"),
        restored=restored,
        arm="pretrained" if restored else ("scratch" if config.init_checkpoint else "no_bundle"),
        unseen_labels=unseen,
        wall_seconds=round(time.perf_counter() - started, 1),
        steps=num_steps,
        config=dataclasses.asdict(config),
    )
    save_classifier(
        os.path.join(config.output_dir, MODEL_DIR),
        model=model,
        backbone_name=backbone_name,
        tokenizer=tokenizer,
        labels=label_set.names,
        thresholds=results["valid"]["threshold"],
        max_seq_length=config.max_seq_length,
    )
    atomic_write.write_json(os.path.join(config.output_dir, METRICS_FILE), results)
    return results


def _best_weights_path(checkpoint_dir, epoch):
    return os.path.join(checkpoint_dir, f"best-epoch-{epoch}.weights.h5")


def _restore_best_epoch(config, checkpoint_dir, history, model):
    """Loads the weights of the epoch with the best valid micro-F1 (an early-stopping choice
    made on valid only); returns that epoch, or the last one with --norestore_best_epoch.

    Every improving epoch leaves its own file, so a run resumed after losing an epoch still
    finds the file of its best remaining epoch; once the choice is made, only its file is kept.
    """
    last_epoch = history[-1]["epoch"]
    if not config.restore_best_epoch:
        return last_epoch
    best_f1 = max(entry["valid_micro_f1"] for entry in history)
    best_epoch = next(e["epoch"] for e in history if e["valid_micro_f1"] == best_f1)
    if best_epoch != last_epoch:
        weights_file.load_weights(_best_weights_path(checkpoint_dir, best_epoch), model.weights)
    logging.info(
        "scoring the weights of epoch %d (best valid micro-F1 %.4f; last epoch %d)",
        best_epoch,
        best_f1,
        last_epoch,
    )
    kept = os.path.basename(_best_weights_path(checkpoint_dir, best_epoch))
    for name in os.listdir(checkpoint_dir):
        if name.startswith("best-epoch-") and name != kept:
            os.remove(os.path.join(checkpoint_dir, name))
    return best_epoch


def _final_scores(config, logits_of, datasets, labels, label_set) -> dict:
    """Threshold tuned on valid; valid and test scores with it; the per-label table on test."""
    valid_probabilities, valid_loss = _evaluate(logits_of, datasets["valid"])
    threshold = metrics.tune_threshold(
        valid_probabilities, labels["valid"] > 0, per_label=config.per_label_thresholds
    )
    results = {}
    for split, probabilities, loss in (
        ("valid", valid_probabilities, valid_loss),
        ("test", *_evaluate(logits_of, datasets["test"])),
    ):
        predicted = metrics.decide_labels(probabilities, threshold)
        scores = metrics.multilabel_scores(labels[split] > 0, predicted)
        results[split] = dict(
            scores, loss=loss, threshold=np.asarray(threshold, np.float64).tolist()
        )
        if split == "test":
            rows = metrics.per_label_scores(labels["test"] > 0, predicted, label_set.names)
            results["test_per_label"] = rows
            logging.info("per-label scores on test:\n%s", metrics.format_per_label_table(rows))
    for split in ("valid", "test"):
        logging.info(
            "%s: micro-F1 %.4f macro-F1 %.4f mean %.4f precision %.4f recall %.4f",
            split,
            *(
                results[split][k]
                for k in ("micro_f1", "macro_f1", "mean_f1", "precision", "recall")
            ),
        )
    return results
