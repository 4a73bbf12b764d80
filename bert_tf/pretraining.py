"""Stage 1: a raw corpus to a pretrained bundle."""

import dataclasses
import math
import os
from typing import ClassVar

from absl import logging

import backbones
import pretrain_tasks
from bert_tf import backbone_source, bundle, cluster, distribution, run_state, weights_file
from bert_tf.corpus_files import corpus_paths, file_identity, scan_corpus
from bert_tf.corpus_shards import (
    ShardedCorpus,
    is_shard_directory,
    prepare_shards,
    shards_ready,
)
from bert_tf.errors import InputError
from bert_tf.optimization import create_optimizer
from bert_tf.pretraining_data import (
    PretrainingExamples,
    check_across_documents,
    combine_layouts,
)
from bert_tf.pretraining_model import PretrainingModel
from bert_tf.run_config import RunConfig, plugin_dict, setting
from bert_tf.tokenization import SPECIAL_TOKENS, Tokenizer, TokenizerConfig, learn_vocabulary
from bert_tf.trainer import CHECKPOINT_DIR, Trainer

#: The shortest sequence each layout can make: [CLS] a [SEP], or [CLS] a [SEP] b [SEP].
MIN_SEQ_LENGTH = {False: 3, True: 5}
#: Where in the output directory a raw corpus's shards are kept (`corpus_shards`).
SHARD_DIR = "corpus_shards"


def _task_names():
    return tuple(sorted(pretrain_tasks.TASKS))


@dataclasses.dataclass(frozen=True, kw_only=True)
class PretrainConfig(RunConfig):
    """Settings of a pretraining run; each field is a flag of `train_bert_lm.py`."""

    #: Pretraining without dropout (the cramming recipe): 9% more steps per CPU-minute at the
    #: same quality on valid (docs/benchmarks/quality_per_minute_screen10.md).
    RUN_SETTING_DEFAULTS: ClassVar[dict] = {"dropout": 0.0}

    corpus: str = setting(
        "data/corpus.txt",
        "Raw text (one sentence a line, a blank line between documents; or one document a "
        "line): a file, a glob or a directory of files. Or the corpus_shards directory of "
        "another run.",
    )
    init_checkpoint: str = setting(
        "",
        "A bundle to continue pretraining from: its vocabulary, backbone and, for the tasks "
        "it shares with --tasks, heads; the optimizer starts afresh. Empty: random weights.",
    )
    output_dir: str = setting("runs/pretrain", "Where the bundle, checkpoints and logs go.")
    tasks: tuple = setting(
        (),
        "Pretraining tasks, comma-separated. Default: the backbone's ("
        + "; ".join(
            f"{name}: {','.join(cls.DEFAULT_PRETRAIN_TASKS)}"
            for name, cls in sorted(backbones.BACKBONES.items())
        )
        + "), the recipe that measured best for it per CPU-minute.",
        _task_names,
    )
    learning_rate: float | None = setting(
        None,
        "Peak learning rate of AdamW. Default: the backbone's ("
        + "; ".join(
            f"{name}: {cls.DEFAULT_PRETRAIN_LEARNING_RATE:g}"
            for name, cls in sorted(backbones.BACKBONES.items())
        )
        + "), the rate that measured best for it on valid after fine-tuning.",
    )
    task_loss_weights: dict = setting(
        {}, "Optional per-task loss weights, e.g. masked_lm=1,next_sentence=0.5."
    )
    task_settings: dict = plugin_dict("Settings of the tasks, e.g. mask_rate.")
    vocab_file: str = setting("", "Use this vocab.txt (e.g. another bundle's); empty: learn one.")
    vocab_sample_lines: int = setting(
        1_000_000,
        "Vocabulary learning reads at most this many lines, drawn uniformly from the corpus.",
    )
    shard_tokens: int = setting(
        1_000_000,
        "The corpus is tokenized once into shards of about this many tokens (whole documents) "
        "in <output_dir>/corpus_shards; training holds a few at a time.",
    )
    preprocess_only: bool = setting(
        False, "Stop once the vocabulary and the corpus shards are made (train later)."
    )
    min_count: int = setting(2, "Whitespace tokenizer: keep tokens seen this many times.")
    lower_case: bool | None = setting(
        None, "Fold case (default true; accents are always kept); with a bundle, the bundle's."
    )
    num_train_steps: int = setting(0, "Steps to train; 0 to use --epochs.")
    epochs: float = setting(5.0, "Passes over the corpus, used when --num_train_steps=0.")
    warmup_steps: int = setting(-1, "Linear warmup steps; -1: --warmup_proportion of the steps.")
    warmup_proportion: float = setting(
        0.1,
        "Share of the steps spent warming up when --warmup_steps is -1; 0.5 makes the schedule "
        "a triangle peaking halfway (cramming's one-cycle).",
    )
    gradient_accumulation_steps: int = setting(
        1,
        "Average the gradients of this many batches into one optimizer update: a batch of "
        "--batch_size times this many sequences, for when that batch does not fit in memory. "
        "--num_train_steps, the warmup and the schedule count batches.",
    )
    clip_norm: float = setting(
        1.0, "Clip the gradients to this global norm (BERT's 1.0); 0 turns clipping off."
    )
    checkpoint_every: int = setting(500, "Steps between checkpoints.")
    log_every: int = setting(50, "Steps between TensorBoard summaries.")
    pack_across_documents: bool = setting(
        False,
        "Let a sequence run on into the next documents, a [SEP] between two (RoBERTa's full "
        "sentences), so sequences come full when documents are short. Tasks that need sentence "
        "pairs (next_sentence) cannot use it.",
    )

    RESUMABLE_CHANGES = (
        "resume",
        "num_train_steps",
        "epochs",
        "checkpoint_every",
        "log_every",
        "preprocess_only",
        "cluster_timeout",
        "tpu",
        "static_shapes",
        "jit_compile",
        "dtype_policy",
    )

    def validate(self) -> None:
        """Raises InputError for settings no run can use."""
        super().validate()
        tasks = [pretrain_tasks.get(name) for name in self.tasks]
        pairs = combine_layouts(tasks).sentence_pairs
        if self.pack_across_documents:
            check_across_documents(tasks)
        if self.max_seq_length < MIN_SEQ_LENGTH[pairs]:
            raise InputError(
                f"--max_seq_length={self.max_seq_length} cannot hold "
                f"{'[CLS] a [SEP] b [SEP]' if pairs else '[CLS] a [SEP]'}; "
                f"expected at least {MIN_SEQ_LENGTH[pairs]}"
            )
        for name in (
            "min_count",
            "vocab_sample_lines",
            "shard_tokens",
            "gradient_accumulation_steps",
        ):
            if getattr(self, name) <= 0:
                raise InputError(f"--{name}={getattr(self, name)}: expected a positive number")
        if self.num_train_steps < 0 or self.epochs < 0:
            raise InputError("--num_train_steps and --epochs must not be negative")
        if not (self.num_train_steps or self.epochs):
            raise InputError("give --num_train_steps or --epochs")
        if self.clip_norm < 0:
            raise InputError(f"--clip_norm={self.clip_norm}: expected 0 (off) or a positive norm")
        if not 0 <= self.warmup_proportion <= 1:
            raise InputError(
                f"--warmup_proportion={self.warmup_proportion}: expected a share from 0 to 1"
            )
        if self.chosen("vocab_size") <= len(SPECIAL_TOKENS):
            raise InputError(
                f"--vocab_size={self.chosen('vocab_size')} leaves no room past the special tokens"
            )

    @property
    def tokenizer_config(self) -> TokenizerConfig:
        """The tokenizer a run without a bundle learns or loads."""
        return TokenizerConfig(
            self.chosen("tokenizer"), self.chosen("lower_case"), cjk_split=self.chosen("cjk_split")
        )


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How long a run trains: steps in all, per epoch, and of warmup."""

    num_steps: int
    steps_per_epoch: int
    warmup_steps: int


def learn_corpus_vocabulary(config: PretrainConfig, scan=None) -> Tokenizer:
    """A tokenizer of `config`'s kind whose vocabulary is learned from at most
    `config.vocab_sample_lines` lines of its corpus (from `scan` if given), as a pretraining run
    without `--vocab_file` does.

    Raises:
        InputError: unreadable corpus files.
    """
    scan = scan or scan_corpus(corpus_paths(config.corpus), config.vocab_sample_lines, config.seed)
    tokenizer_config = config.tokenizer_config
    logging.info(
        "learning a %s vocabulary of up to %d tokens from %d of the corpus's %d lines",
        tokenizer_config.kind,
        config.chosen("vocab_size"),
        len(scan.sample),
        scan.num_lines,
    )
    vocabulary = learn_vocabulary(
        scan.sample, tokenizer_config, config.chosen("vocab_size"), config.min_count
    )
    return Tokenizer(vocabulary, tokenizer_config)


def run_pretraining(config: PretrainConfig) -> dict:
    """Pretrains a backbone on a raw corpus and writes the bundle into `config.output_dir`.

    The corpus is tokenized once into shards (kept in `output_dir/corpus_shards`, reused by a
    rerun) and streamed from them. A run in `output_dir/checkpoints` with the same settings is
    resumed (unless `config.resume` is False); its vocabulary is reused, not learned again.
    With `config.init_checkpoint`, the run starts from that bundle. On several workers the chief
    does all of this; the others train beside it and write nothing that lasts (`cluster`).

    Returns:
        dict: the training summary written into the bundle's config (with
        `config.preprocess_only`, what was prepared).

    Raises:
        InputError: bad flags, input files or bundle.
        TrainingError: the loss became NaN or infinite, or a worker was lost.
    """
    config = with_backbone_defaults(config)
    config.validate()  # before the policy is set: it checks the policy's name too
    with run_state.dtype_policy(config.dtype_policy):
        return _run_pretraining(config)


def with_backbone_defaults(config: PretrainConfig) -> PretrainConfig:
    """`config` with `tasks` and `learning_rate`, when not given, set to its backbone's
    `DEFAULT_PRETRAIN_TASKS` and `DEFAULT_PRETRAIN_LEARNING_RATE` (with `init_checkpoint`, the
    bundle's backbone's)."""
    if config.tasks and config.learning_rate is not None:
        return config
    if config.init_checkpoint:
        name = bundle.read_bundle_config(config.init_checkpoint)["backbone"]["name"]
    else:
        name = config.chosen("backbone")
    backbone_class = backbones.get(name)
    changes = {}
    if not config.tasks:
        changes["tasks"] = tuple(backbone_class.DEFAULT_PRETRAIN_TASKS)
        logging.info("--tasks=%s (the %s backbone's default)", ",".join(changes["tasks"]), name)
    if config.learning_rate is None:
        changes["learning_rate"] = backbone_class.DEFAULT_PRETRAIN_LEARNING_RATE
        logging.info(
            "--learning_rate=%g (the %s backbone's default)", changes["learning_rate"], name
        )
    return dataclasses.replace(config, **changes)


def _run_pretraining(config):
    strategy, start = _check_settings(config)
    role = cluster.WorkerRole(strategy)
    with role.chief_first():
        output_dir = role.working_dir(config.output_dir)
        checkpoint_dir = os.path.join(output_dir, CHECKPOINT_DIR)
        settings = run_state.run_settings(config, PretrainConfig.RESUMABLE_CHANGES)
        # Another worker resumes whatever the chief has just prepared.
        resuming = run_state.prepare_checkpoint_dir(
            checkpoint_dir, settings, config.resume or not role.is_chief
        )
        tokenizer, shards = _tokenizer_and_shards(
            config, start, checkpoint_dir, resuming, settings, role
        )
    with role.discarding():
        if config.preprocess_only:
            logging.info("--preprocess_only: the corpus shards are in %s", shards.directory)
            return {"corpus_shards": shards.directory, "vocabulary_size": tokenizer.vocabulary_size}
        summary = _train(config, strategy, start, output_dir, tokenizer, shards)
    logging.info(
        "bundle written to %s" if role.is_chief else f"{role.task}: done (the chief wrote %s)",
        config.output_dir,
    )
    return summary


def _train(config, strategy, start, output_dir, tokenizer, shards) -> dict:
    """Trains from the shards and saves the bundle into `output_dir`; returns the summary."""
    checkpoint_dir = os.path.join(output_dir, CHECKPOINT_DIR)
    source = start or backbone_source.new_backbone(config, tokenizer)
    tasks = pretrain_tasks.build_tasks(
        config.tasks,
        tokenizer.vocabulary_size,
        config.max_seq_length,
        config.task_loss_weights,
        config.task_settings,
        tokenizer.special_ids,
        tokenizer.continuation_ids,
    )
    start_step = Trainer.checkpointed_step(checkpoint_dir)
    examples = PretrainingExamples(
        shards,
        tasks,
        max_seq_length=config.max_seq_length,
        seed=config.seed,
        special_ids=tokenizer.special_ids,
        static_shapes=config.static_shapes,
        across_documents=config.pack_across_documents,
    )
    schedule = _schedule(config, examples.examples_per_epoch)
    model, optimizer = _build_model(
        config, source, tasks, examples.dataset(config.batch_size), schedule, strategy
    )
    trainer = Trainer.in_output_dir(
        model, optimizer, strategy, output_dir, "pretrain", config=config
    )
    trainer.restore()
    history = trainer.train(
        strategy.distribute_datasets_from_function(
            lambda context: examples.dataset(
                config.batch_size, start_step=start_step, input_context=context
            )
        ),
        schedule.num_steps,
        checkpoint_every=config.checkpoint_every,
        log_every=config.log_every,
    )
    summary = _summary(config, history, tasks, trainer.first_step_metrics(), schedule)
    bundle.save_bundle(
        output_dir,
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
    if not is_shard_directory(config.corpus):
        for path in corpus_paths(config.corpus):
            file_identity(path)  # a missing or unreadable file stops the run before any write
    run_state.set_seed(config.seed, config.deterministic)
    strategy = distribution.get_strategy(
        config.strategy, tpu=config.tpu, cluster_timeout=config.cluster_timeout
    )
    distribution.check_batch_size(config.batch_size, strategy)
    if config.init_checkpoint:
        return strategy, backbone_source.from_bundle(config, config.init_checkpoint)
    backbone_source.check_new_backbone_settings(config)
    return strategy, None


def _tokenizer_and_shards(config, start, checkpoint_dir, resuming, settings, role):
    """The run's tokenizer and its corpus in shards.

    The tokenizer is the one a resumed run recorded, the bundle's, the given vocabulary file's,
    the given shards', or one learned from the corpus. A new run first reads every corpus file
    (unless its shards are made already), so a bad file stops it before anything is written;
    then it records the tokenizer, so a run stopped while making the shards resumes with it.
    The shards are the given ones, which must have been made with that tokenizer, or a raw
    corpus's, made by the chief in `<output_dir>/corpus_shards` (kept while they match).

    Returns:
        (Tokenizer, ShardedCorpus).
    """
    vocabulary_path = os.path.join(checkpoint_dir, bundle.VOCABULARY_FILE)
    given_shards = is_shard_directory(config.corpus)
    shard_dir = os.path.join(config.output_dir, SHARD_DIR)
    scan = None
    if resuming:
        tokenizer_config = start.tokenizer.config if start else config.tokenizer_config
        tokenizer = Tokenizer.from_files(vocabulary_path, tokenizer_config)
    else:
        if start:
            tokenizer = start.tokenizer
        elif config.vocab_file:
            tokenizer = Tokenizer.from_files(config.vocab_file, config.tokenizer_config)
        elif given_shards:
            tokenizer = ShardedCorpus(config.corpus).tokenizer
        else:
            tokenizer = None
        paths = [] if given_shards else corpus_paths(config.corpus)
        if paths and not (
            tokenizer and shards_ready(shard_dir, paths, tokenizer, config.shard_tokens)
        ):
            sample_lines = 0 if tokenizer else config.vocab_sample_lines
            scan = scan_corpus(paths, sample_lines, config.seed)
        tokenizer = tokenizer or learn_corpus_vocabulary(config, scan)
        tokenizer.save_vocabulary(vocabulary_path)
        run_state.record_run(checkpoint_dir, settings)
    logging.info("vocabulary: %d tokens", tokenizer.vocabulary_size)
    if given_shards:
        shards = ShardedCorpus(config.corpus)
        shards.check_tokenizer(tokenizer, _vocabulary_origin(config))
        return tokenizer, shards
    shards = prepare_shards(
        shard_dir,
        corpus_paths(config.corpus),
        tokenizer,
        config.shard_tokens,
        scan=scan,
        make=role.is_chief,
    )
    return tokenizer, shards


def _vocabulary_origin(config) -> str:
    """Where a run's vocabulary comes from, for messages."""
    if config.init_checkpoint:
        return f"the bundle --init_checkpoint={config.init_checkpoint}"
    if config.vocab_file:
        return f"--vocab_file={config.vocab_file}"
    return f"the run in {os.path.join(config.output_dir, CHECKPOINT_DIR)}"


def _schedule(config, examples_per_epoch) -> Schedule:
    steps_per_epoch = math.ceil(examples_per_epoch / config.batch_size)
    num_steps = config.num_train_steps or max(1, round(config.epochs * steps_per_epoch))
    warmup = (
        config.warmup_steps
        if config.warmup_steps >= 0
        else int(config.warmup_proportion * num_steps)
    )
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
            config.learning_rate,
            schedule.num_steps,
            schedule.warmup_steps,
            config.weight_decay,
            gradient_accumulation_steps=config.gradient_accumulation_steps,
            clip_norm=config.clip_norm,
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
