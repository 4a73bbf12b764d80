"""Training throughput: the engine against keras-hub, each part alone, how cost grows.

    python -m benchmarks.throughput --data_dir=../shared/data/debian-tags \\
        --out=docs/benchmarks/throughput

`--data_dir` holds the raw corpus (`--corpus_file`, default `pretrain.txt`: one sentence a line,
a blank line between documents), a labeled train file (`--train_file`, default
`train_small.txt`) and `valid.txt`, fastText format, as `../shared/data/debian-tags` does. One
run measures the matmul peak; masked-LM training tokens/s of both backbones at tiny and mini on
the real corpus and on full-length batches, and of keras-hub's BERT at the same Transformer
sizes (`benchmarks/keras_hub_reference.py`; the two alternate in every round, the TextCNN runs
in the first only); the input pipeline, fine-tuning, prediction and vocabulary learning alone;
seconds per step against sequence length and batch size. Everything runs under one Keras dtype
policy (`--dtype_policy`; keras-hub's models take it as the engine's do), and the matmul peak is
measured in its compute precision, so MFU is against the peak of the precision the matmuls run
in. Writes `<out>.json`, `<out>.md`, `<out>.png`. About an hour on 2 cores with the defaults,
half that with `--steps=150 --warmup_steps=50`; `--smoke` shrinks everything for the test.
"""

import argparse
import dataclasses
import datetime
import importlib.metadata
import math
import os
import platform
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

import backbones
import pretrain_tasks
from backbones.base import model_inputs_example
from benchmarks import keras_hub_reference as hub
from benchmarks.throughput_report import (
    GROUP,
    INPUTS,
    PREDICTIONS,
    REFERENCE_INPUT,
    TARGETS,
    find_row,
    measured_as,
    write_outputs,
)
from bert_tf import run_state, tokenization
from bert_tf.batching import pad_batch
from bert_tf.classification_data import classification_dataset, encode_texts
from bert_tf.classifier import MultiLabelClassifier, prior_log_odds
from bert_tf.corpus import read_corpus
from bert_tf.finetuning import FinetuneConfig
from bert_tf.labeled_data import LabelSet, read_labeled_file
from bert_tf.optimization import create_optimizer
from bert_tf.plugin_settings import constructor_arguments
from bert_tf.prediction import predict_probabilities
from bert_tf.pretraining import PretrainConfig, with_backbone_defaults
from bert_tf.pretraining_data import pretraining_dataset, tokenize_corpus
from bert_tf.pretraining_model import PretrainingModel
from bert_tf.run_config import DTYPE_POLICIES
from bert_tf.trainer import Trainer

ISSUE_ESTIMATE = (4900, 23e6)  # "mini at 4.9k tokens/s does roughly 23 MFLOP a token"
VOCABULARY_SAMPLE = 40000  # sentences of the untimed vocabulary of --skip_vocabulary


@dataclasses.dataclass(frozen=True)
class Plan:
    """Sizes and step counts of a run; `overrides` shrinks every model (`--smoke`)."""

    warmup_steps: int = 100
    steps: int = 300
    rounds: int = 2
    batch_size: int = 32
    length: int = 128
    sizes: tuple = ("tiny", "mini")
    vocabulary_size: int = 8000
    overrides: dict = dataclasses.field(default_factory=dict)
    matmul_sizes: tuple = (1024, 2048)
    matmul_count: int = 10
    cost_lengths: tuple = (64, 128, 256, 512)
    cost_batches: tuple = (8, 16, 32, 64, 128)
    corpus_sentences: int = 0  # the corpus's first sentences only; 0: all
    dtype_policy: str = "float32"  # Keras's global policy for every measurement

    def corpus(self, path):
        """The corpus at `path`, cut to `corpus_sentences` sentences if set."""
        corpus, cut = read_corpus(path), self.corpus_sentences or None
        return dataclasses.replace(
            corpus, sentences=corpus.sentences[:cut], document_ids=corpus.document_ids[:cut]
        )

    def schedule(self, size):
        """(warm-up, timed) steps: mini, several times tiny's cost per step, gets half the
        warm-up and a third of the timed steps (at least 60), to bound the run time."""
        if size != "mini":
            return self.warmup_steps, self.steps
        warmup = max(min(self.warmup_steps, 20), self.warmup_steps // 2)
        return warmup, max(min(self.steps, 60), self.steps // 3)


SMOKE = dict(batch_size=8, length=32, sizes=("tiny",), vocabulary_size=400, matmul_sizes=(64,))
SMOKE.update(matmul_count=2, cost_lengths=(16, 32), cost_batches=(4, 8), corpus_sentences=3000)
SMOKE["overrides"] = dict(hidden_dim=16, num_layers=1, num_heads=2, intermediate_dim=32, filters=8)


def model_config(name, vocabulary_size, size, plan, max_length=None):
    """`backbones.backbone_config` at `size` with the plan's overrides that the backbone takes."""
    accepted = constructor_arguments(backbones.get(name))
    overrides = {key: value for key, value in plan.overrides.items() if key in accepted}
    length = max_length or plan.length
    return backbones.backbone_config(
        name, vocabulary_size, size, max_sequence_length=length, **overrides
    )


def forward_flops_per_sequence(name, config, length, predictions=PREDICTIONS):
    """Forward FLOPs (2 per multiply-add) of one sequence of `length` tokens through the
    backbone and the masked-LM head at `predictions` positions."""
    h, layers, vocabulary = config["hidden_dim"], config["num_layers"], config["vocabulary_size"]
    if name == "transformer":  # Q, K, V, O; feed-forward; attention scores and weighted sum
        per_token = 8 * h * h + 4 * h * config["intermediate_dim"] + 4 * length * h
    elif name == "textcnn":  # a convolution per width; projection of their concatenation
        filters, widths = config["filters"], config["kernel_sizes"]
        per_token = sum(2 * k * h * filters for k in widths) + 2 * filters * len(widths) * h
    else:
        raise ValueError(f"no FLOP formula for backbone {name!r}")
    head = 2 * length * h + 2 * h * h + 2 * h * vocabulary  # one-hot gather, dense, projection
    return layers * length * per_token + predictions * head


def flops_per_token(name, config, length):
    """Forward and training (3 × forward) FLOPs per token at sequence length `length`."""
    forward = forward_flops_per_sequence(name, config, length) / length
    return {"forward": forward, "training": 3 * forward}


def matmul_peak(sizes, count, dtype="float32", repeats=3):
    """Best GFLOP/s of `count` chained square `dtype` matmuls in a `tf.function`, by size."""
    by_size = {}
    for n in sizes:
        x = tf.cast(tf.random.normal([n, n]), dtype)
        q, _ = tf.linalg.qr(tf.random.normal([n, n]))  # orthogonal: values neither grow nor fade
        q = tf.cast(q, dtype)

        @tf.function
        def chain(x, q=q):
            for _ in tf.range(count):
                x = tf.matmul(x, q)
            return x

        chain(x).numpy()
        best = min(_seconds(lambda: chain(x).numpy()) for _ in range(repeats))
        by_size[str(n)] = 2 * n**3 * count / best / 1e9
    best = max(by_size.values())
    return dict(gflops=best, by_size=by_size, count=count, repeats=repeats, dtype=dtype)


def _seconds(fn):
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


class StepClock:
    """An `on_step(step, metrics)` noting when each step number was reached."""

    def __init__(self):
        self.marks = []

    def __call__(self, step, metrics=None):
        self.marks.append((int(step), time.perf_counter()))

    def rate(self, warmup):
        """(steps/s, steps timed) from the first mark at or after step `warmup` to the last
        mark; step numbers may jump by more than one between marks."""
        timed = [mark for mark in self.marks if mark[0] >= warmup]
        if len(timed) < 2 or timed[-1][0] <= timed[0][0]:
            raise RuntimeError(f"too few step marks after step {warmup}: {self.marks[-3:]}")
        (first, started), (last, ended) = timed[0], timed[-1]
        return (last - first) / (ended - started), last - first


def full_length_dataset(token_ids, tasks, batch_size, length, seed=0):
    """Endless batches of `[CLS] w [SEP]`, w a window of `length - 2` consecutive ids, masked by
    the tasks' `preprocess` and padded as the pretraining pipeline does (no padding results)."""
    window = length - 2
    rows = len(token_ids) // window
    windows = tf.constant(np.asarray(token_ids[: rows * window], np.int32).reshape(rows, window))
    special = tokenization.SpecialTokenIds()  # the benchmark's vocabulary is learned: ids 0-4

    def example(index):
        tokens = tf.concat([[special.cls], windows[index], [special.sep]], 0)
        return {"token_ids": tokens, "segment_ids": tf.zeros_like(tokens)}

    def preprocess(batch):  # ragged, as `pretraining_dataset`'s batches come to the tasks
        batch = {key: tf.RaggedTensor.from_tensor(value) for key, value in batch.items()}
        for task in tasks:
            batch = task.preprocess(batch)
        return pad_batch(batch)

    dataset = tf.data.Dataset.range(rows).shuffle(rows, seed=seed).repeat()
    dataset = dataset.map(example, num_parallel_calls=tf.data.AUTOTUNE).ragged_batch(batch_size)
    return dataset.map(preprocess).prefetch(tf.data.AUTOTUNE)


def pipeline_stats(dataset, num_batches):
    """Iterates the project's dataset with no model: batches/s and tokens per batch; and the
    batch shapes [batch, padded length] seen."""
    iterator = iter(dataset)
    next(iterator)  # fills the shuffle buffer
    shapes, useful, started = [], 0, time.perf_counter()
    for _ in range(num_batches):
        batch = next(iterator)
        shapes.append(tuple(batch["token_ids"].shape))
        useful += int(tf.reduce_sum(batch["padding_mask"]))
    rate = num_batches / (time.perf_counter() - started)
    sequences, padded = sum(b for b, _ in shapes), sum(b * s for b, s in shapes)
    return {
        "batches_per_second": rate,
        "padded_tokens_per_batch": padded / num_batches,
        "useful_tokens_per_batch": useful / num_batches,
        "useful_tokens_per_sequence": useful / sequences,
        "mean_padded_length": padded / sequences,
    }, shapes


def _train(model, optimizer, dataset, warmup, steps, log_every=None, jit_compile=False):
    """Trains with the project's `Trainer` into a temporary directory; (steps/s, steps) of the
    timed window, which ends before the final checkpoint is written. `on_step` comes only at
    the warm-up's end and at log lines, so the trainer runs its steps in groups as it does in
    a real run (where log lines end its groups). `jit_compile`: the step compiled with XLA."""
    log_every = log_every or PretrainConfig().log_every
    clock = StepClock()
    with tempfile.TemporaryDirectory() as directory:
        strategy = tf.distribute.get_strategy()
        config = PretrainConfig(jit_compile=jit_compile)
        trainer = Trainer.in_output_dir(
            model, optimizer, strategy, directory, "benchmark", config=config
        )
        every = math.gcd(warmup, log_every)
        trainer.train(
            dataset,
            warmup + steps,
            checkpoint_every=0,
            log_every=log_every,
            on_step=clock,
            on_step_every=every,
        )
    return clock.rate(warmup)


def project_training(name, config, tasks, dataset, warmup, steps, jit_compile=False):
    """Masked-LM pretraining steps/s, the model built as `bert_tf.pretraining` builds it (the
    step compiled with XLA if `jit_compile`)."""
    defaults = with_backbone_defaults(PretrainConfig(backbone=name))
    keras.utils.set_random_seed(defaults.seed)
    with tf.distribute.get_strategy().scope():
        model = PretrainingModel(backbones.build(name, config), tasks)
        model(next(iter(dataset.take(1))))
        optimizer = create_optimizer(
            defaults.learning_rate, warmup + steps, warmup, defaults.weight_decay
        )
        optimizer.build(model.trainable_variables)
    return _train(model, optimizer, dataset, warmup, steps, jit_compile=jit_compile)


def keras_hub_training(config, dataset, warmup, steps):
    """keras-hub `BertMaskedLM.fit` steps/s at the same sizes and learning settings."""
    defaults = with_backbone_defaults(PretrainConfig(backbone="transformer"))
    model = hub.masked_lm_model(config, defaults.learning_rate, defaults.weight_decay)
    clock = StepClock()
    hub.train(model, dataset, warmup + steps, clock)
    return clock.rate(warmup)


def _classifier(config, labels):
    """An untrained tiny-Transformer `MultiLabelClassifier`, built as fine-tuning builds it."""
    keras.utils.set_random_seed(0)
    with tf.distribute.get_strategy().scope():
        pooling = backbones.get("transformer").DEFAULT_POOLING
        backbone = backbones.build("transformer", config)
        model = MultiLabelClassifier(
            backbone, labels.shape[1], pooling, 0.1, prior_log_odds(labels)
        )
        model(model_inputs_example())
    return model


def finetuning_rate(tokenizer, config, plan, texts, labels):
    """Fine-tuning examples/s of the tiny Transformer classifier, trained by the `Trainer`."""
    log_every = max(1, -(-len(texts) // plan.batch_size) // 4)  # fine-tuning's log lines
    warmup, steps = plan.schedule("tiny")
    warmup = -(-warmup // log_every) * log_every  # its groups of steps end at log lines
    ids = encode_texts(texts, tokenizer, plan.length)
    dataset = classification_dataset(
        ids, labels, batch_size=plan.batch_size, max_seq_length=plan.length, training=True
    )
    model, defaults, total = _classifier(config, labels), FinetuneConfig(), warmup + steps
    with tf.distribute.get_strategy().scope():
        warmup_share = int(defaults.warmup_proportion * total)
        optimizer = create_optimizer(
            backbones.get("transformer").DEFAULT_FINETUNE_LEARNING_RATE,
            total,
            warmup_share,
            defaults.weight_decay,
        )
        optimizer.build(model.trainable_variables)
    rate, timed = _train(model, optimizer, dataset, warmup, steps, log_every)
    return {"examples_per_second": rate * plan.batch_size, "timed_steps": timed, "warmup": warmup}


def prediction_rate(tokenizer, config, plan, texts, labels):
    """`predict_probabilities` texts/s with an untrained tiny classifier, after a warm-up call."""
    model = _classifier(config, labels)
    predict_probabilities(model, tokenizer, texts, plan.length)
    seconds = _seconds(lambda: predict_probabilities(model, tokenizer, texts, plan.length))
    return {"texts_per_second": len(texts) / seconds, "texts": len(texts)}


def corpus_vocabulary(args, plan, corpus, use_keras_hub):
    """The run's vocabulary and its record: learned by the project and by keras-hub, each
    timed; or, with `--skip_vocabulary`, `--vocab_file`'s or one learned untimed from the
    corpus's first sentences."""
    config = tokenization.TokenizerConfig()
    if args.skip_vocabulary and args.vocab_file:
        vocabulary = tokenization.Tokenizer.from_files(args.vocab_file, config).vocabulary
        return vocabulary, {"skipped": True, "source": args.vocab_file}
    sentences = corpus.sentences[:VOCABULARY_SAMPLE] if args.skip_vocabulary else corpus.sentences
    started = time.perf_counter()
    vocabulary = tokenization.learn_vocabulary(sentences, config, plan.vocabulary_size)
    record = {"sentences": len(sentences), "size": plan.vocabulary_size}
    if args.skip_vocabulary:
        source = f"learned, untimed, from the corpus's first {len(sentences):,} sentences"
        return vocabulary, dict(record, skipped=True, source=source)
    record["project_seconds"] = time.perf_counter() - started
    if use_keras_hub:
        record["keras_hub_seconds"], _ = hub.vocabulary_seconds(sentences, plan.vocabulary_size)
    return vocabulary, record


def prepare_inputs(plan, corpus, tokenizer, use_keras_hub):
    """Tokenizes the corpus once; each engine's datasets by input, their token counts over as
    many batches as a tiny measurement trains, and the batch shapes (for FLOPs)."""
    started = time.perf_counter()
    tokenized = tokenize_corpus(corpus, tokenizer)
    tokenize_seconds = time.perf_counter() - started
    tasks = pretrain_tasks.build_tasks(["masked_lm"], tokenizer.vocabulary_size, plan.length)
    real, packed = (
        pretraining_dataset(
            tokenized,
            tasks,
            max_seq_length=plan.length,
            batch_size=plan.batch_size,
            seed=0,
            across_documents=across,
        )[0]
        for across in (False, True)
    )
    full = full_length_dataset(tokenized.token_ids, tasks, plan.batch_size, plan.length)
    inputs = dict(tasks=tasks, vocabulary_size=tokenizer.vocabulary_size, stats={}, shapes={})
    inputs.update(tokenize_seconds=tokenize_seconds, num_tokens=int(tokenized.token_ids.size))
    inputs["datasets"] = {
        ("project", "real"): real,
        ("project", "packed"): packed,
        ("project", "full"): full,
    }
    num_batches = sum(plan.schedule("tiny"))
    for kind in INPUTS:
        data = inputs["datasets"]["project", kind]
        inputs["stats"]["project", kind], inputs["shapes"]["project", kind] = pipeline_stats(
            data, num_batches
        )
    if use_keras_hub:
        datasets, stats = hub.inputs(
            corpus,
            tokenizer.vocabulary,
            sequence_length=plan.length,
            batch_size=plan.batch_size,
            predictions=PREDICTIONS,
            num_batches=num_batches,
        )
        for kind in datasets:
            inputs["datasets"]["keras_hub", kind] = datasets[kind]
            inputs["stats"]["keras_hub", kind] = stats[kind]
            inputs["shapes"]["keras_hub", kind] = [(plan.batch_size, plan.length)]
    return inputs


def training_record(key, rate, config, inputs, peak):
    """One measurement's figures. Tokens: steps/s × the dataset's tokens per batch. MFU: padded
    tokens (padding is computed too), FLOPs of each batch's padded length, over the peak."""
    engine, name, size, kind, round_ = key
    steps_per_second, timed = rate
    stats = inputs["stats"][engine, kind]
    shapes = inputs["shapes"][engine, kind]
    flops = np.mean([3 * b * forward_flops_per_sequence(name, config, s) for b, s in shapes])
    return dict(
        zip(("engine", "backbone", "size", "input", "round"), key),
        timed_steps=timed,
        steps_per_second=steps_per_second,
        padded_tokens_per_second=steps_per_second * stats["padded_tokens_per_batch"],
        useful_tokens_per_second=steps_per_second * stats["useful_tokens_per_batch"],
        training_flops_per_padded_token=float(flops) / stats["padded_tokens_per_batch"],
        mfu=steps_per_second * float(flops) / (peak["gflops"] * 1e9),
    )


def training_records(plan, inputs, peak, say):
    """Every training measurement. In each round the engine's Transformer and keras-hub's
    alternate; the TextCNN, compared with nothing, is measured in the first round only."""
    records = []
    for round_ in range(1, plan.rounds + 1):
        runs = [("project", "transformer"), ("keras_hub", "transformer")]
        runs += [("project", "textcnn")] if round_ == 1 else []
        runs = [(engine, name) for engine, name in runs if (engine, "real") in inputs["datasets"]]
        for size in plan.sizes:
            warmup, steps = plan.schedule(size)
            for kind, engine, name in ((k, e, n) for k in INPUTS for e, n in runs):
                if (engine, kind) not in inputs["datasets"]:  # keras-hub: no packed corpus
                    continue
                say(f"round {round_}: {engine} {name} {size} on the {INPUTS[kind]}")
                config = model_config(name, inputs["vocabulary_size"], size, plan)
                dataset = inputs["datasets"][engine, kind]
                if engine == "project":
                    rate = project_training(name, config, inputs["tasks"], dataset, warmup, steps)
                else:
                    rate = keras_hub_training(config, dataset, warmup, steps)
                key = (engine, name, size, kind, round_)
                records.append(training_record(key, rate, config, inputs, peak))
    return records


MEANS = ("steps_per_second", "padded_tokens_per_second", "useful_tokens_per_second", "mfu")


def summarize(records):
    """The mean over rounds of each engine, backbone, size and input, with per-round figures."""
    groups = {}
    for record in records:
        groups.setdefault(tuple(record[k] for k in GROUP), []).append(record)
    rows = []
    for key, runs in groups.items():
        row = dict(zip(GROUP, key), rounds=len(runs), timed_steps=runs[0]["timed_steps"])
        row.update({k: float(np.mean([r[k] for r in runs])) for k in MEANS})
        row["training_flops_per_padded_token"] = runs[0]["training_flops_per_padded_token"]
        row["per_round_useful_tokens_per_second"] = [r["useful_tokens_per_second"] for r in runs]
        rows.append(row)
    return rows


def ratios(summary, plan):
    """Engine / keras-hub useful tokens/s of the Transformer (every token is useful on
    full-length batches), on each of the engine's inputs against keras-hub's on
    `REFERENCE_INPUT`'s, mean and per round, against the targets."""
    rows = []
    for size, kind in ((size, kind) for size in plan.sizes for kind in INPUTS):
        ours = find_row(summary, "project", "transformer", size, kind)
        theirs = find_row(summary, "keras_hub", "transformer", size, REFERENCE_INPUT[kind])
        if not (ours and theirs):
            continue
        ratio = ours["useful_tokens_per_second"] / theirs["useful_tokens_per_second"]
        rounds = zip(*(r["per_round_useful_tokens_per_second"] for r in (ours, theirs)))
        rows.append(dict(size=size, input=kind, ratio=ratio, target=TARGETS[kind]))
        rows[-1].update(met=ratio >= TARGETS[kind], per_round=[a / b for a, b in rounds])
    return rows


def part_rates(args, plan, tokenizer, inputs, summary, say):
    """Each part alone: the input pipeline (against the tiny Transformer's step), fine-tuning,
    prediction and tokenizing the corpus."""
    config = model_config("transformer", inputs["vocabulary_size"], "tiny", plan)
    train = read_labeled_file(os.path.join(args.data_dir, args.train_file), "train file")
    labels, _ = LabelSet.from_examples(train.labels).encode(train.labels)
    valid = read_labeled_file(os.path.join(args.data_dir, "valid.txt"), "valid file")
    pipeline = dict(inputs["stats"]["project", "real"])
    tiny = find_row(summary, "project", "transformer", "tiny", "real")
    pipeline["ratio_to_tiny_step"] = pipeline["batches_per_second"] / tiny["steps_per_second"]
    say("fine-tuning and prediction")
    return dict(
        input_pipeline=pipeline,
        finetuning=finetuning_rate(tokenizer, config, plan, train.texts, labels),
        prediction=prediction_rate(tokenizer, config, plan, valid.texts, labels),
        tokenizing={"seconds": inputs["tokenize_seconds"], "tokens": inputs["num_tokens"]},
    )


def flops_table(plan, vocabulary_size, peak):
    """FLOPs per token of every measured model, and the issue's estimate checked against the
    mini Transformer's count at length 128."""
    rows = []
    for name, size in ((name, size) for name in ("transformer", "textcnn") for size in plan.sizes):
        config = model_config(name, vocabulary_size, size, plan)
        rows.append(dict(backbone=name, size=size, config=config))
        rows[-1].update(flops_per_token(name, config, plan.length))
    mini = backbones.backbone_config("transformer", vocabulary_size, "mini")
    training = flops_per_token("transformer", mini, 128)["training"]
    rate, estimate = ISSUE_ESTIMATE
    check = dict(mini_flops=training, issue_flops=estimate, issue_tokens_per_second=rate)
    check.update(gflops=rate * training / 1e9, share_of_peak=rate * training / peak["gflops"] / 1e9)
    return dict(rows=rows, vocabulary_size=vocabulary_size, predictions=PREDICTIONS, check=check)


def cost_curves(plan, vocabulary_size, say):
    """Seconds per step of the tiny Transformer (masked LM, full-length random batches) against
    sequence length at the plan's batch size, and against batch size at its length."""
    warmup, steps = max(2, plan.warmup_steps // 10), max(3, plan.steps // 10)
    config = model_config("transformer", vocabulary_size, "tiny", plan, max(plan.cost_lengths))
    rng, measured = np.random.default_rng(0), {}

    def point(length, batch_size):
        if (length, batch_size) not in measured:
            say(f"cost: length {length}, batch {batch_size}")
            tasks = pretrain_tasks.build_tasks(["masked_lm"], vocabulary_size, length)
            ids = rng.integers(
                len(tokenization.SPECIAL_TOKENS), vocabulary_size, 4 * batch_size * length
            )
            dataset = full_length_dataset(ids, tasks, batch_size, length)
            rate, _ = project_training("transformer", config, tasks, dataset, warmup, steps)
            flops = flops_per_token("transformer", config, length)["training"]
            measured[length, batch_size] = dict(length=length, batch_size=batch_size)
            measured[length, batch_size].update(seconds_per_step=1 / rate, training_flops=flops)
            measured[length, batch_size]["tokens_per_second"] = rate * length * batch_size
        return measured[length, batch_size]

    by_length = [point(length, plan.batch_size) for length in plan.cost_lengths]
    by_batch = [point(plan.length, batch_size) for batch_size in plan.cost_batches]
    cost = dict(by_length=by_length, by_batch=by_batch, warmup=warmup, timed_steps=steps)
    return dict(cost, sentence=cost_sentence(by_length, by_batch))


def cost_sentence(by_length, by_batch):
    """What grows how, read from the figures."""
    first, last, small, large = by_length[0], by_length[-1], by_batch[0], by_batch[-1]
    relative = ", ".join(
        f"{p['length']}: {p['tokens_per_second'] / first['tokens_per_second']:.2f}× (the FLOPs "
        f"per token alone would give {first['training_flops'] / p['training_flops']:.2f}×)"
        for p in by_length[1:]
    )
    if last["tokens_per_second"] < first["tokens_per_second"]:
        why = "the cost per token grows with length, as attention's 4·S·H term per token predicts"
    else:
        why = "at these sizes fixed per-step costs outweigh attention's 4·S·H term per token"
    scale = large["batch_size"] / small["batch_size"]
    speedup = scale * small["seconds_per_step"] / large["seconds_per_step"]
    if speedup > 1.25:
        linear = "less than linearly in tokens: larger batches amortize per-step costs"
    else:
        linear = "faster than linearly in tokens" if speedup < 0.8 else "about linearly in tokens"
    return (
        f"Tokens/s against sequence length, relative to length {first['length']}: {relative}; "
        f"{why}. From batch {small['batch_size']} to {large['batch_size']} ({scale:.0f}× the "
        f"tokens) a step takes {scale / speedup:.1f}× as long, so tokens/s is {speedup:.2f}× "
        f"that at batch {small['batch_size']}: the step cost grows {linear}."
    )


def _target(name, required, measured=None, met=None):
    """A target's row; `met` is None when its figure was not measured."""
    return dict(target=name, required=required, measured=measured, met=met if measured else None)


def targets(results):
    """Each target with the figure it is judged on and whether it is met."""
    rows, found = [], {(r["size"], r["input"]): r for r in results["ratios"]}
    for kind, size in (
        (kind, size) for kind in ("full", "real", "packed") for size in ("tiny", "mini")
    ):
        r = found.get((size, kind))
        name = f"engine / keras-hub {measured_as(kind)}, {INPUTS[kind]}, {size} Transformer"
        rows.append(
            _target(name, f"≥ {TARGETS[kind]:g}×", r and f"{r['ratio']:.2f}×", r and r["met"])
        )
    for kind in ("full", "real", "packed"):
        r = find_row(results["training_summary"], "project", "transformer", "mini", kind)
        name = f"mini Transformer, share of the measured matmul peak, {INPUTS[kind]}"
        met = r and r["mfu"] >= TARGETS["mfu"]
        rows.append(_target(name, f"≥ {TARGETS['mfu']:.0%}", r and f"{r['mfu']:.1%}", met))
    ratio = results["parts"]["input_pipeline"]["ratio_to_tiny_step"]
    name = "input pipeline / what the tiny Transformer's training step consumes"
    met = ratio >= TARGETS["pipeline"]
    rows.append(_target(name, f"≥ {TARGETS['pipeline']:g}×", f"{ratio:.1f}×", met))
    vocab, name = results["vocabulary"], "vocabulary learning time, engine vs keras-hub"
    if "keras_hub_seconds" in vocab:
        ours, theirs = vocab["project_seconds"], vocab["keras_hub_seconds"]
        rows.append(
            _target(name, "≤ keras-hub's", f"{ours:.0f} s vs {theirs:.0f} s", ours <= theirs)
        )
    else:
        rows.append(_target(name, "≤ keras-hub's"))
    return rows


def run(args, plan, say):
    """Every measurement in order, under the plan's dtype policy; the results the report is
    written from."""
    with run_state.dtype_policy(plan.dtype_policy):
        return _run(args, plan, say)


def _run(args, plan, say):
    started = time.perf_counter()
    version, note = (None, "--skip_keras_hub was given") if args.skip_keras_hub else hub.version()
    settings = dict(dataclasses.asdict(plan), mini_schedule=plan.schedule("mini"))
    settings.update(smoke=args.smoke, corpus_file=args.corpus_file, train_file=args.train_file)
    environment = dict(
        keras_hub=version, cpu_count=os.cpu_count(), python=platform.python_version()
    )
    environment.update(
        tensorflow=tf.__version__, keras=keras.__version__, keras_backend=keras.backend.backend()
    )
    environment["tensorflow_text"] = importlib.metadata.version("tensorflow-text")
    environment["date"] = datetime.datetime.now().isoformat(timespec="seconds")
    results = dict(settings=settings, environment=environment, keras_hub_note=note)
    say("matmul peak")
    compute_dtype = keras.config.dtype_policy().compute_dtype
    results["matmul_peak"] = peak = matmul_peak(plan.matmul_sizes, plan.matmul_count, compute_dtype)
    corpus = plan.corpus(os.path.join(args.data_dir, args.corpus_file))
    say("vocabulary")
    vocabulary, results["vocabulary"] = corpus_vocabulary(args, plan, corpus, bool(version))
    tokenizer = tokenization.Tokenizer(vocabulary, tokenization.TokenizerConfig())
    say(f"tokenizing the corpus ({len(vocabulary)} tokens), counting tokens per batch")
    inputs = prepare_inputs(plan, corpus, tokenizer, bool(version))
    results["token_stats"] = {f"{e}_{k}": stats for (e, k), stats in inputs["stats"].items()}
    results["flops_per_token"] = flops_table(plan, len(vocabulary), peak)
    results["training"] = training_records(plan, inputs, peak, say)
    results["training_summary"] = summary = summarize(results["training"])
    results["ratios"] = ratios(summary, plan)
    results["parts"] = part_rates(args, plan, tokenizer, inputs, summary, say)
    results["cost"] = cost_curves(plan, len(vocabulary), say)
    results["targets"] = targets(results)
    results["wall_seconds"] = time.perf_counter() - started
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--data_dir", required=True, help="Holds the corpus, the train file and valid.txt.")
    add("--out", required=True, help="Path prefix of <out>.json, <out>.md and <out>.png.")
    add("--corpus_file", default="pretrain.txt", help="The raw corpus, in --data_dir.")
    add(
        "--train_file", default="train_small.txt", help="Fine-tuning's labeled file, in --data_dir."
    )
    add("--steps", type=int, default=300, help="Timed steps per training measurement.")
    add("--warmup_steps", type=int, default=100, help="Steps run before the timed ones.")
    add("--rounds", type=int, default=2, help="Rounds of the engine and keras-hub alternating.")
    add("--skip_keras_hub", action="store_true", help="Measure the engine alone.")
    add("--skip_vocabulary", action="store_true", help="Do not time vocabulary learning.")
    add("--vocab_file", help="With --skip_vocabulary: the vocab.txt to use.")
    add(
        "--dtype_policy",
        default="float32",
        choices=DTYPE_POLICIES,
        help="Keras dtype policy of every measurement, the engine's and keras-hub's alike.",
    )
    add("--smoke", action="store_true", help="Tiny models, sizes and step counts, for the test.")
    args = parser.parse_args(argv)
    if args.vocab_file and not args.skip_vocabulary:
        parser.error("--vocab_file replaces the learned vocabulary: give --skip_vocabulary too")
    if min(args.steps, args.warmup_steps, args.rounds) < 1:
        parser.error("--steps, --warmup_steps and --rounds must be at least 1")
    needed = (args.corpus_file, args.train_file, "valid.txt")
    missing = [name for name in needed if not os.path.isfile(os.path.join(args.data_dir, name))]
    if missing:
        parser.error(f"--data_dir={args.data_dir} lacks {', '.join(missing)}")
    smoke = SMOKE if args.smoke else {}
    plan = Plan(args.warmup_steps, args.steps, args.rounds, **smoke, dtype_policy=args.dtype_policy)
    command = " ".join(
        ["python -m benchmarks.throughput", *(sys.argv[1:] if argv is None else argv)]
    )
    say = lambda message: print(time.strftime("%H:%M:%S"), message, flush=True)  # noqa: E731
    print(write_outputs(run(args, plan, say), args.out, command))


if __name__ == "__main__":
    main()
