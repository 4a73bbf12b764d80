"""Stage 1: a raw corpus to a pretrained bundle."""

import dataclasses
import math
import os

from absl import logging

import backbones
import pretrain_tasks
from bert_tf import bundle, distribution, run_state
from bert_tf.corpus import read_corpus
from bert_tf.errors import InputError
from bert_tf.optimization import create_optimizer
from bert_tf.pretraining_data import pretraining_dataset, tokenize_corpus
from bert_tf.pretraining_model import PretrainingModel
from bert_tf.tokenization import SPECIAL_TOKENS, Tokenizer, TokenizerConfig, learn_vocabulary
from bert_tf.trainer import Trainer

MIN_SEQ_LENGTH = 5  # [CLS] a [SEP] b [SEP]


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Settings of a pretraining run; field names equal the flags of `train_bert_lm.py`."""

    corpus: str
    output_dir: str
    backbone: str = "transformer"
    model_size: str = "tiny"
    backbone_overrides: dict = dataclasses.field(default_factory=dict)
    tasks: tuple = ("masked_lm", "next_sentence")
    task_loss_weights: dict = dataclasses.field(default_factory=dict)
    tokenizer: str = "wordpiece"
    vocab_file: str = ""
    vocab_size: int = 8000
    min_count: int = 2
    lower_case: bool = True
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    num_train_steps: int = 0
    epochs: float = 0.0
    warmup_steps: int = -1
    seed: int = 0
    deterministic: bool = False
    strategy: str = "default"
    checkpoint_every: int = 500
    log_every: int = 50
    resume: bool = True

    #: Settings a resumed run may change (the rest must match the run it continues).
    RESUMABLE_CHANGES = ("resume", "num_train_steps", "epochs", "checkpoint_every", "log_every")

    def validate(self) -> None:
        """Raises InputError for settings no run can use."""
        if self.max_seq_length < MIN_SEQ_LENGTH:
            raise InputError(
                f"--max_seq_length={self.max_seq_length} cannot hold [CLS] a [SEP] b [SEP]; "
                f"expected at least {MIN_SEQ_LENGTH}"
            )
        for name in ("batch_size", "vocab_size", "max_predictions_per_seq", "min_count"):
            if getattr(self, name) <= 0:
                raise InputError(f"--{name}={getattr(self, name)}: expected a positive number")
        if self.learning_rate <= 0:
            raise InputError(f"--learning_rate={self.learning_rate}: expected a positive number")
        if self.num_train_steps < 0 or self.epochs < 0:
            raise InputError("--num_train_steps and --epochs must not be negative")
        if self.vocab_size <= len(SPECIAL_TOKENS):
            raise InputError(
                f"--vocab_size={self.vocab_size} leaves no room past the special tokens"
            )


def _summarize(history: dict, tasks, start: dict) -> dict:
    """Each task's loss and accuracy at the start and at the end of training."""
    summary = {"tasks": {}}
    for task in tasks:
        summary["tasks"][task.name] = {
            f"{when}_{metric}": figures.get(f"{task.name}_{metric}")
            for when, figures in (("start", start), ("end", history["end"]))
            for metric in ("loss", "accuracy")
        }
    return summary


def learn_corpus_vocabulary(config: PretrainConfig, corpus=None) -> Tokenizer:
    """A tokenizer of `config`'s kind whose vocabulary is learned from its corpus (read here
    unless given), as a pretraining run without `--vocab_file` does."""
    corpus = corpus or read_corpus(config.corpus)
    logging.info("learning a %s vocabulary of up to %d tokens", config.tokenizer, config.vocab_size)
    tokenizer_config = TokenizerConfig(config.tokenizer, config.lower_case)
    vocabulary = learn_vocabulary(
        corpus.sentences, tokenizer_config, config.vocab_size, config.min_count
    )
    return Tokenizer(vocabulary, tokenizer_config)


def run_pretraining(config: PretrainConfig) -> dict:
    """Pretrains a backbone on a raw corpus and writes the bundle into `config.output_dir`.

    A run in `output_dir/checkpoints` with the same settings is resumed (unless
    `config.resume` is False); its vocabulary is reused, not learned again.

    Returns:
        dict: the training summary written into the bundle's config.

    Raises:
        InputError: bad flags or input files.
        TrainingError: the loss became NaN or infinite.
    """
    config.validate()
    run_state.set_seed(config.seed, config.deterministic)
    strategy = distribution.get_strategy(config.strategy)
    distribution.check_batch_size(config.batch_size, strategy)
    backbones.backbone_config(config.backbone, 0, config.model_size, **config.backbone_overrides)
    for name in config.tasks:
        pretrain_tasks.get(name)

    checkpoint_dir = os.path.join(config.output_dir, "checkpoints")
    settings = run_state.run_settings(config, PretrainConfig.RESUMABLE_CHANGES)
    settings["tasks"] = list(settings["tasks"])
    resuming = run_state.prepare_checkpoint_dir(checkpoint_dir, settings, config.resume)

    corpus = read_corpus(config.corpus)
    logging.info(
        "corpus %s: %d sentences in %d documents (%s layout)",
        config.corpus,
        len(corpus.sentences),
        corpus.num_documents,
        corpus.layout,
    )
    tokenizer_config = TokenizerConfig(config.tokenizer, config.lower_case)
    vocabulary_path = os.path.join(checkpoint_dir, bundle.VOCABULARY_FILE)
    if resuming:
        tokenizer = Tokenizer.from_files(vocabulary_path, tokenizer_config)
    elif config.vocab_file:
        tokenizer = Tokenizer.from_files(config.vocab_file, tokenizer_config)
        tokenizer.save_vocabulary(vocabulary_path)
        run_state.record_run(checkpoint_dir, settings)
    else:
        tokenizer = learn_corpus_vocabulary(config, corpus)
        tokenizer.save_vocabulary(vocabulary_path)
        run_state.record_run(checkpoint_dir, settings)
    logging.info("vocabulary: %d tokens", tokenizer.vocabulary_size)

    tokenized = tokenize_corpus(corpus, tokenizer)
    if tokenized.num_dropped_sentences:
        logging.warning(
            "%d sentences had no token and were left out", tokenized.num_dropped_sentences
        )
    tasks = pretrain_tasks.build_tasks(
        config.tasks,
        tokenizer.vocabulary_size,
        config.max_seq_length,
        config.task_loss_weights,
        max_predictions_per_seq=config.max_predictions_per_seq,
    )
    dataset, examples_per_epoch = pretraining_dataset(
        tokenized,
        tasks,
        max_seq_length=config.max_seq_length,
        batch_size=config.batch_size,
        seed=config.seed,
    )
    steps_per_epoch = math.ceil(examples_per_epoch / config.batch_size)
    num_steps = config.num_train_steps or max(1, round(config.epochs * steps_per_epoch))
    if not (config.num_train_steps or config.epochs):
        raise InputError("give --num_train_steps or --epochs")
    warmup = config.warmup_steps if config.warmup_steps >= 0 else num_steps // 10
    logging.info(
        "%d examples per epoch, %d steps per epoch; training %d steps (%.2f epochs)",
        examples_per_epoch,
        steps_per_epoch,
        num_steps,
        num_steps / steps_per_epoch,
    )

    backbone_config = backbones.backbone_config(
        config.backbone,
        tokenizer.vocabulary_size,
        config.model_size,
        max_sequence_length=config.max_seq_length,
        **config.backbone_overrides,
    )
    with strategy.scope():
        backbone = backbones.build(config.backbone, backbone_config)
        model = PretrainingModel(backbone, tasks)
        model(next(iter(dataset.take(1))))
        optimizer = create_optimizer(config.learning_rate, num_steps, warmup, config.weight_decay)
        optimizer.build(model.trainable_variables)
    logging.info("%s backbone: %s parameters", config.backbone, f"{backbone.count_params():,}")

    trainer = Trainer(
        model,
        optimizer,
        model.loss_and_metrics,
        strategy,
        checkpoint_dir,
        os.path.join(config.output_dir, "logs", "pretrain"),
    )
    start_step = trainer.restore()
    if start_step:
        dataset, _ = pretraining_dataset(
            tokenized,
            tasks,
            max_seq_length=config.max_seq_length,
            batch_size=config.batch_size,
            seed=config.seed,
            start_step=start_step,
        )
    history = trainer.train(
        dataset, num_steps, checkpoint_every=config.checkpoint_every, log_every=config.log_every
    )
    start = trainer.first_step_metrics()
    summary = dict(
        _summarize(history, tasks, start),
        steps=num_steps,
        epochs=round(num_steps / steps_per_epoch, 3),
        batch_size=config.batch_size,
        steps_per_second=round(history["steps_per_second"], 3),
        padded_tokens_per_second=round(history["tokens_per_second"], 1),
        corpus=config.corpus,
    )
    bundle.save_bundle(
        config.output_dir,
        backbone_name=config.backbone,
        backbone=backbone,
        tokenizer=tokenizer,
        max_seq_length=config.max_seq_length,
        tasks=tasks,
        training_summary=summary,
        head_variables=model.head_variables(),
    )
    return summary
