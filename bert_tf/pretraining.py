"""Stage 1: a raw corpus to a pretrained bundle."""

import dataclasses
import math
import os

from absl import logging

import pretrain_tasks
from bert_tf import backbone_source, bundle, distribution, run_state, weights_file
from bert_tf.corpus import read_corpus
from bert_tf.errors import InputError
from bert_tf.optimization import create_optimizer
from bert_tf.pretraining_data import combine_layouts, pretraining_dataset, tokenize_corpus
from bert_tf.pretraining_model import PretrainingModel
from bert_tf.run_config import RunConfig, plugin_dict, setting
from bert_tf.tokenization import SPECIAL_TOKENS, Tokenizer, TokenizerConfig, learn_vocabulary
from bert_tf.trainer import CHECKPOINT_DIR, Trainer

#: The shortest sequence each layout can make: [CLS] a [SEP], or [CLS] a [SEP] b [SEP].
MIN_SEQ_LENGTH = {False: 3, True: 5}


def _task_names():
    return tuple(sorted(pretrain_tasks.TASKS))


@dataclasses.dataclass(frozen=True, kw_only=True)
class PretrainConfig(RunConfig):
    """Settings of a pretraining run; each field is a flag of `train_bert_lm.py`."""

    corpus: str = setting(
        "data/corpus.txt",
        "Raw text: one sentence a line, a blank line between documents; or one document a line.",
    )
    init_checkpoint: str = setting(
        "",
        "A bundle to continue pretraining from: its vocabulary, backbone and, for the tasks "
        "it shares with --tasks, heads; the optimizer starts afresh. Empty: random weights.",
    )
    output_dir: str = setting("runs/pretrain", "Where the bundle, checkpoints and logs go.")
    tasks: tuple = setting(
        ("masked_lm", "next_sentence"), "Pretraining tasks, comma-separated.", _task_names
    )
    task_loss_weights: dict = setting(
        {}, "Optional per-task loss weights, e.g. masked_lm=1,next_sentence=0.5."
    )
    task_settings: dict = plugin_dict("Settings of the tasks, e.g. mask_rate.")
    vocab_file: str = setting("", "Use this vocab.txt (e.g. another bundle's); empty: learn one.")
    min_count: int = setting(2, "Whitespace tokenizer: keep tokens seen this many times.")
    lower_case: bool | None = setting(
        None, "Fold case (default true; accents are always kept); with a bundle, the bundle's."
    )
    num_train_steps: int = setting(0, "Steps to train; 0 to use --epochs.")
    epochs: float = setting(5.0, "Passes over the corpus, used when --num_train_steps=0.")
    warmup_steps: int = setting(-1, "Linear warmup steps; -1 for 10% of the steps.")
    checkpoint_every: int = setting(500, "Steps between checkpoints.")
    log_every: int = setting(50, "Steps between TensorBoard summaries.")

    RESUMABLE_CHANGES = ("resume", "num_train_steps", "epochs", "checkpoint_every", "log_every")

    def validate(self) -> None:
        """Raises InputError for settings no run can use."""
        super().validate()
        pairs = combine_layouts([pretrain_tasks.get(name) for name in self.tasks]).sentence_pairs
        if self.max_seq_length < MIN_SEQ_LENGTH[pairs]:
            raise InputError(
                f"--max_seq_length={self.max_seq_length} cannot hold "
                f"{'[CLS] a [SEP] b [SEP]' if pairs else '[CLS] a [SEP]'}; "
                f"expected at least {MIN_SEQ_LENGTH[pairs]}"
            )
        if self.min_count <= 0:
            raise InputError(f"--min_count={self.min_count}: expected a positive number")
        if self.num_train_steps < 0 or self.epochs < 0:
            raise InputError("--num_train_steps and --epochs must not be negative")
        if not (self.num_train_steps or self.epochs):
            raise InputError("give --num_train_steps or --epochs")
        if self.chosen("vocab_size") <= len(SPECIAL_TOKENS):
            raise InputError(
                f"--vocab_size={self.chosen('vocab_size')} leaves no room past the special tokens"
            )

    @property
    def tokenizer_config(self) -> TokenizerConfig:
        """The tokenizer a run without a bundle learns or loads."""
        return TokenizerConfig(self.chosen("tokenizer"), self.chosen("lower_case"))


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How long a run trains: steps in all, per epoch, and of warmup."""

    num_steps: int
    steps_per_epoch: int
    warmup_steps: int


def learn_corpus_vocabulary(config: PretrainConfig, corpus=None) -> Tokenizer:
    """A tokenizer of `config`'s kind whose vocabulary is learned from its corpus (read here
    unless given), as a pretraining run without `--vocab_file` does."""
    corpus = corpus or read_corpus(config.corpus)
    tokenizer_config = config.tokenizer_config
    logging.info(
        "learning a %s vocabulary of up to %d tokens",
        tokenizer_config.kind,
        config.chosen("vocab_size"),
    )
    vocabulary = learn_vocabulary(
        corpus.sentences, tokenizer_config, config.chosen("vocab_size"), config.min_count
    )
    return Tokenizer(vocabulary, tokenizer_config)


def run_pretraining(config: PretrainConfig) -> dict:
    """Pretrains a backbone on a raw corpus and writes the bundle into `config.output_dir`.

    A run in `output_dir/checkpoints` with the same settings is resumed (unless
    `config.resume` is False); its vocabulary is reused, not learned again. With
    `config.init_checkpoint`, the run starts from that bundle.

    Returns:
        dict: the training summary written into the bundle's config.

    Raises:
        InputError: bad flags, input files or bundle.
        TrainingError: the loss became NaN or infinite.
    """
    strategy, start = _check_settings(config)
    checkpoint_dir = os.path.join(config.output_dir, CHECKPOINT_DIR)
    settings = run_state.run_settings(config, PretrainConfig.RESUMABLE_CHANGES)
    resuming = run_state.prepare_checkpoint_dir(checkpoint_dir, settings, config.resume)
    corpus = _read_corpus(config.corpus)
    tokenizer = _tokenizer(config, corpus, checkpoint_dir, resuming, start, settings)
    source = start or backbone_source.new_backbone(config, tokenizer)
    tasks = pretrain_tasks.build_tasks(
        config.tasks,
        tokenizer.vocabulary_size,
        config.max_seq_length,
        config.task_loss_weights,
        config.task_settings,
        tokenizer.special_ids,
    )
    start_step = Trainer.checkpointed_step(checkpoint_dir)
    dataset, examples_per_epoch = pretraining_dataset(
        _tokenize(corpus, tokenizer),
        tasks,
        max_seq_length=config.max_seq_length,
        batch_size=config.batch_size,
        seed=config.seed,
        start_step=start_step,
        special_ids=tokenizer.special_ids,
    )
    schedule = _schedule(config, examples_per_epoch)
    model, optimizer = _build_model(config, source, tasks, dataset, schedule, strategy)
    trainer = Trainer.in_output_dir(model, optimizer, strategy, config.output_dir, "pretrain")
    trainer.restore()
    history = trainer.train(
        dataset,
        schedule.num_steps,
        checkpoint_every=config.checkpoint_every,
        log_every=config.log_every,
    )
    summary = _summary(config, history, tasks, trainer.first_step_metrics(), schedule)
    bundle.save_bundle(
        config.output_dir,
        backbone_name=source.name,
        backbone=model.backbone,
        tokenizer=tokenizer,
        max_seq_length=config.max_seq_length,
        tasks=tasks,
        training_summary=summary,
        head_variables=model.head_variables(),
    )
    return summary


def _check_settings(config):
    """Checks every setting before any slow work starts.

    Returns:
        (the tf.distribute strategy, the BackboneSource of the bundle to start from or None).
    """
    pretrain_tasks.check_choice(config.tasks, config.task_loss_weights, config.task_settings)
    config.validate()
    run_state.set_seed(config.seed, config.deterministic)
    strategy = distribution.get_strategy(config.strategy)
    distribution.check_batch_size(config.batch_size, strategy)
    if config.init_checkpoint:
        return strategy, backbone_source.from_bundle(config, config.init_checkpoint)
    backbone_source.check_new_backbone_settings(config)
    return strategy, None


def _read_corpus(path):
    corpus = read_corpus(path)
    logging.info(
        "corpus %s: %d sentences in %d documents (%s layout)",
        path,
        len(corpus.sentences),
        corpus.num_documents,
        corpus.layout,
    )
    return corpus


def _tokenizer(config, corpus, checkpoint_dir, resuming, start, settings) -> Tokenizer:
    """The run's tokenizer: the one a resumed run recorded, the bundle's, the given vocabulary
    file's, or one learned from the corpus. A new run records it before anything else."""
    vocabulary_path = os.path.join(checkpoint_dir, bundle.VOCABULARY_FILE)
    if resuming:
        tokenizer_config = start.tokenizer.config if start else config.tokenizer_config
        tokenizer = Tokenizer.from_files(vocabulary_path, tokenizer_config)
    else:
        if start:
            tokenizer = start.tokenizer
        elif config.vocab_file:
            tokenizer = Tokenizer.from_files(config.vocab_file, config.tokenizer_config)
        else:
            tokenizer = learn_corpus_vocabulary(config, corpus)
        tokenizer.save_vocabulary(vocabulary_path)
        run_state.record_run(checkpoint_dir, settings)
    logging.info("vocabulary: %d tokens", tokenizer.vocabulary_size)
    return tokenizer


def _tokenize(corpus, tokenizer):
    tokenized = tokenize_corpus(corpus, tokenizer)
    if tokenized.num_dropped_sentences:
        logging.warning(
            "%d sentences had no token and were left out", tokenized.num_dropped_sentences
        )
    return tokenized


def _schedule(config, examples_per_epoch) -> Schedule:
    steps_per_epoch = math.ceil(examples_per_epoch / config.batch_size)
    num_steps = config.num_train_steps or max(1, round(config.epochs * steps_per_epoch))
    warmup = config.warmup_steps if config.warmup_steps >= 0 else num_steps // 10
    logging.info(
        "%d examples per epoch, %d steps per epoch; training %d steps (%.2f epochs)",
        examples_per_epoch,
        steps_per_epoch,
        num_steps,
        num_steps / steps_per_epoch,
    )
    return Schedule(num_steps, steps_per_epoch, warmup)


def _build_model(config, source, tasks, dataset, schedule, strategy):
    """The backbone with its task heads and the optimizer, built in the strategy's scope; with
    a bundle to start from, its backbone and the heads of the tasks it shares are loaded."""
    backbone = backbone_source.build_backbone(source, strategy)
    with strategy.scope():
        model = PretrainingModel(backbone, tasks)
        model(next(iter(dataset.take(1))))
        optimizer = create_optimizer(
            config.learning_rate, schedule.num_steps, schedule.warmup_steps, config.weight_decay
        )
        optimizer.build(model.trainable_variables)
    logging.info("%s backbone: %s parameters", source.name, f"{backbone.count_params():,}")
    if source.bundle_dir:
        backbone_source.restore_backbone(backbone, source.bundle_dir)
        _restore_shared_heads(model, source.bundle_dir)
    return model, optimizer


def _restore_shared_heads(model, bundle_dir) -> None:
    """Loads the heads of the tasks this run shares with the bundle; the others start fresh."""
    saved = {task["name"] for task in bundle.read_bundle_config(bundle_dir).get("tasks", [])}
    shared = [task.name for task in model.tasks if task.name in saved]
    if shared:
        weights_file.load_weights(
            os.path.join(bundle_dir, bundle.HEADS_WEIGHTS_FILE),
            model.head_variables(shared),
            under=tuple(model.head_path(name) for name in shared),
        )
    fresh = [task.name for task in model.tasks if task.name not in saved]
    logging.info(
        "heads restored from the bundle: %s; fresh: %s",
        ", ".join(shared) or "none",
        ", ".join(fresh) or "none",
    )


def _summary(config, history, tasks, first_step, schedule) -> dict:
    """Each task's metrics (loss, accuracy, ...) at the start and at the end of training, and
    the run."""
    return {
        "tasks": {
            task.name: {
                f"{when}_{metric}": figures.get(f"{task.name}_{metric}")
                for when, figures in (("start", first_step), ("end", history["end"]))
                for metric in task.metric_names
            }
            for task in tasks
        },
        "steps": schedule.num_steps,
        "epochs": round(schedule.num_steps / schedule.steps_per_epoch, 3),
        "batch_size": config.batch_size,
        "steps_per_second": round(history["steps_per_second"], 3),
        "tokens_per_second": round(history["tokens_per_second"], 1),
        "padded_tokens_per_second": round(history["padded_tokens_per_second"], 1),
        "corpus": config.corpus,
        "init_checkpoint": config.init_checkpoint,
    }
