"""What pretraining gains, measured fairly: pretrained vs. no-pretrain, per backbone and size.

    python -m benchmarks.pretrain_vs_scratch --data_dir=DIR --budget=quick   # ~20 min on 2 cores
    python -m benchmarks.pretrain_vs_scratch --data_dir=DIR --budget=full
    python -m benchmarks.pretrain_vs_scratch --data_dir=../shared/data/debian-sections \
        --pretrain_corpus=../shared/data/debian-tags/pretrain.txt --problem_type=single_label \
        --budget=full --train_files=train_small.txt

`--data_dir` holds `pretrain.txt` (the raw corpus, unless `--pretrain_corpus` names another),
`valid.txt`, `test.txt` and the budget's labeled train files (`train_small.txt`, `train.txt`),
as `../shared/data/debian-tags` does.

For every backbone it pretrains one bundle (reused by all its fine-tuning runs, and by every
label set of the same corpus in the same work directory). For every labeled-set size and arm
(`pretrained`: the bundle's weights; `scratch`: the same vocabulary, architecture, epochs,
batch size and schedule with fresh weights) it sweeps the learning rate, picks the best on
the budget's valid figure (the one that chooses each run's epoch: mean-F1 for `full`), and
runs the other seeds at that rate. TF-IDF + logistic regression is the reference. Every run
is the real script in a subprocess; a run whose `metrics.json` exists is reused, so an
interrupted benchmark continues where it stopped. Writes `<out>.json` (run records),
`<out>.md`, `<out>.png` (learning curves) and for single-label `<out>_confusion.png`; `full`
and `full_mlm_nsp` write their committed reports (`COMMITTED_REPORTS`; `..._single_label.*`
for single-label) unless told otherwise.

`--pretrain_steps`, `--pooling`, `--train_files` and `--problem_type` vary a budget; run names
carry the settings they depend on, so variants share one work directory (scratch runs are shared
across pretraining lengths) and never reuse each other's results by mistake.
"""

import argparse
import concurrent.futures
import dataclasses
import json
import os
import shlex
import sys
import threading
import time

import backbones
from benchmarks import pretrain_vs_scratch_inputs as inputs
from benchmarks import reports
from benchmarks.pretrain_vs_scratch_report import write_outputs
from benchmarks.script_runs import ROOT, run_script
from benchmarks.tfidf_baseline import (
    FEATURES,
    run_tfidf_baseline,
    run_tfidf_single_label_baseline,
)
from bert_tf import problem_types
from bert_tf.classifier import POOLINGS
from bert_tf.pretraining import PretrainConfig, learn_corpus_vocabulary

#: Learning rates a sweep may try, in order; budgets start from a run of consecutive ones.
LEARNING_RATE_LADDER = (3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
#: Where a budget writes its report by default: the figures the README quotes. The reports
#: made before masked LM alone became `full` keep their names under `full_mlm_nsp`, those made
#: before its peak pretraining rate went to 2e-3 under `full_lr1e-3`.
COMMITTED_REPORTS = {
    "full": os.path.join(ROOT, "docs", "benchmarks", "pretrain_vs_scratch_full"),
    "full_lr1e-3": os.path.join(ROOT, "docs", "benchmarks", "pretrain_vs_scratch_full_lr1e-3"),
    "full_mlm_nsp": os.path.join(ROOT, "docs", "benchmarks", "pretrain_vs_scratch"),
}


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much compute a benchmark spends.

    `epochs` maps each labeled train file to its fine-tuning epochs (both arms get the same);
    `pooling` is the classifier head's `--pooling` for every backbone (None: each backbone's
    `DEFAULT_POOLING`, as `train_bert_fine_tuning.py` does); `pretrain_learning_rate` is
    pretraining's peak rate for every backbone (None: each backbone's
    `DEFAULT_PRETRAIN_LEARNING_RATE`, as `train_bert_lm.py` does); `problem_type` is fine-tuning's
    `--problem_type`; `finetune_flags` go to every fine-tuning run of both arms, and
    `finetune_dropout` (None: fine-tuning's default) sets their `--dropout`; `select_epoch_on`
    (None: the problem type's default) is their `--select_epoch_on` and the valid figure a
    sweep chooses its learning rate on; `pretrain_flags` go to every pretraining run.
    `rates_from` maps a train file to an earlier one whose chosen rates it reuses: each arm
    runs every seed at the rate that arm chose there, without a sweep of its own (a sweep on
    the large set costs hours and lands where the small set's does).
    """

    model_size: str
    pretrain_steps: int
    pretrain_learning_rate: float | None
    epochs: dict
    learning_rates: tuple
    seeds: tuple
    pooling: str | None = None
    problem_type: str = "multi_label"
    finetune_flags: tuple = ()
    finetune_dropout: float | None = None
    pretrain_flags: tuple = ()
    select_epoch_on: str | None = None
    rates_from: dict = dataclasses.field(default_factory=dict)

    @property
    def train_files(self):
        return tuple(self.epochs)

    @property
    def selection_metric(self):
        """The record figure a sweep picks its learning rate on: the one that chooses each
        run's epoch (by default valid micro-F1, or accuracy for single-label)."""
        return problem_types.selection_metric(
            problem_types.get(self.problem_type), self.select_epoch_on
        )

    def pooling_of(self, backbone):
        """The `--pooling` both arms of `backbone` fine-tune with."""
        return self.pooling or backbones.get(backbone).DEFAULT_POOLING

    def pretrain_learning_rate_of(self, backbone):
        """The peak `--learning_rate` `backbone`'s bundle is pretrained with."""
        if self.pretrain_learning_rate is None:
            return backbones.get(backbone).DEFAULT_PRETRAIN_LEARNING_RATE
        return self.pretrain_learning_rate


_FULL = Budget(
    "tiny", 12000, 1e-3, {"train_small.txt": 10, "train.txt": 2}, (3e-4, 1e-3, 3e-3), (0, 1, 2)
)
BUDGETS = {
    "quick": Budget("tiny", 1000, 1e-3, {"train_small.txt": 3}, (3e-4, 1e-3, 3e-3), (0,)),
    # The recipe that measured best per CPU-minute (docs/benchmarks/quality_per_minute_lr1e-3.md):
    # without dropout, each backbone's default tasks (train_bert_lm.py's defaults): masked LM
    # alone, packed, for the Transformer; masked LM + next sentence for the TextCNN.
    # Fine-tuned 20 epochs on train_small, the epoch and rate chosen on valid mean-F1
    # (docs/benchmarks/finetune_levers_40min.md). 8,356 steps are what the curve's 40-minute
    # point trained: 51.8 CPU-minutes on one thread, within the 60 a backbone may spend.
    # train.txt reuses each arm's train_small rate and fine-tunes 7 epochs: at 10, the seeds
    # chose epochs 10, 7 and 6 on valid mean-F1 (docs/benchmarks/train_full_40min_3seeds.md),
    # and 2 stopped far short of that. Each backbone pretrains at its own default peak rate:
    # 2e-3 for the Transformer, 1e-3 for the TextCNN (docs/benchmarks/pretrain_vs_scratch_full.md).
    "full": dataclasses.replace(
        _FULL,
        pretrain_steps=8356,
        pretrain_learning_rate=None,
        epochs={"train_small.txt": 20, "train.txt": 7},
        rates_from={"train.txt": "train_small.txt"},
        select_epoch_on="mean_f1",
    ),
    # The recipe before it, for the reports made with it: masked LM + next sentence, dropout
    # 0.1 in pretraining; the epoch and rate chosen on valid micro-F1.
    "full_mlm_nsp": dataclasses.replace(
        _FULL,
        pretrain_flags=("--tasks=masked_lm,next_sentence", "--dropout=0.1"),
        select_epoch_on="micro_f1",
    ),
}
# `full` before the Transformer's peak pretraining rate went from 1e-3 to 2e-3, for the report
# made with it.
BUDGETS["full_lr1e-3"] = dataclasses.replace(BUDGETS["full"], pretrain_learning_rate=1e-3)


@dataclasses.dataclass(frozen=True)
class Plan:
    """A budget and where its runs read and write.

    The raw corpus is `pretrain_corpus`, or `<data_dir>/pretrain.txt` when it is empty. A
    backbone in `pretrained_bundles` (name -> bundle directory) is not pretrained here: both its
    arms start from that bundle. The bundles pretrained here use `vocab_file`, else the first
    given bundle's vocabulary, else one learned from the corpus. Up to `jobs` runs (pretraining
    or fine-tuning) go at once (`slots` counts them), whichever backbone, arm or sweep they
    belong to, each limited to `threads` TensorFlow threads: on 2 cores, two one-thread runs of
    a tiny model get more done than one run using both.
    """

    budget: Budget
    data_dir: str
    work_dir: str
    jobs: int = 1
    #: Shared by plans whose runs must not exceed `jobs` together; None: a new one.
    slots: threading.Semaphore | None = dataclasses.field(default=None, repr=False, compare=False)
    pretrain_corpus: str = dataclasses.field(default="", kw_only=True)
    pretrained_bundles: dict = dataclasses.field(default_factory=dict, kw_only=True)
    vocab_file: str = dataclasses.field(default="", kw_only=True)
    #: The TF-IDF reference's features, a key of `tfidf_baseline.FEATURES`.
    tfidf_features: str = dataclasses.field(default="word", kw_only=True)

    def __post_init__(self):
        if self.slots is None:
            object.__setattr__(self, "slots", threading.Semaphore(max(1, self.jobs)))

    @property
    def corpus(self):
        return self.pretrain_corpus or os.path.join(self.data_dir, "pretrain.txt")

    @property
    def threads(self):
        return max(1, (os.cpu_count() or 1) // self.jobs) if self.jobs > 1 else 0


def _say(message):
    """One whole line on stdout, even with runs going in parallel threads."""
    sys.stdout.write(f"{time.strftime('%H:%M:%S')} {message}\n")
    sys.stdout.flush()


def shared_vocabulary(plan):
    """The vocabulary of every bundle pretrained here: `plan.vocab_file`, or a given bundle's,
    or one learned once from the corpus as `train_bert_lm.py` with the budget's pretraining
    flags learns it (so both arms and all backbones tokenize alike)."""
    given = plan.vocab_file or inputs.bundle_vocabulary(plan.pretrained_bundles)
    if given:
        return given
    return learned_vocabulary(plan, os.path.join(plan.work_dir, "vocab.txt"))


def learned_vocabulary(plan, path, vocab_size=None):
    """`path`, holding a vocabulary learned from the plan's corpus as `train_bert_lm.py` with
    the budget's pretraining flags learns one (of `vocab_size` if given); learned once, then
    reused."""
    if not os.path.isfile(path):
        _say(f"learning the vocabulary {os.path.basename(path)}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        settings = inputs.vocabulary_settings(plan.budget.pretrain_flags)
        if vocab_size is not None:
            settings["vocab_size"] = vocab_size
        config = PretrainConfig(corpus=plan.corpus, output_dir=plan.work_dir, **settings)
        learn_corpus_vocabulary(config).save_vocabulary(path)
    return path


def bundle_dir(backbone, plan):
    """Where the backbone's bundle is pretrained (named by its steps)."""
    return os.path.join(plan.work_dir, f"bundle_{backbone}_{plan.budget.pretrain_steps}steps")


def pretraining_args(backbone, plan, vocab_file):
    """`train_bert_lm.py`'s flags for the backbone's bundle."""
    budget = plan.budget
    return [
        f"--corpus={plan.corpus}",
        f"--output_dir={bundle_dir(backbone, plan)}",
        f"--backbone={backbone}",
        f"--model_size={budget.model_size}",
        f"--num_train_steps={budget.pretrain_steps}",
        f"--learning_rate={budget.pretrain_learning_rate_of(backbone)}",
        f"--vocab_file={vocab_file}",
        *budget.pretrain_flags,
    ]


def stale_bundles(plan, backbone_names):
    """One line per setting in which a bundle this plan would reuse was pretrained otherwise
    than the plan's budget says (a work directory made by an earlier recipe of the budget)."""
    return [
        f"{bundle_dir(backbone, plan)}: {difference}"
        for backbone in backbone_names
        if backbone not in plan.pretrained_bundles
        for difference in inputs.differing_pretraining_flags(
            bundle_dir(backbone, plan), pretraining_args(backbone, plan, "")
        )
    ]


def pretrain(backbone, plan, vocab_file):
    """The backbone's bundle: the one given in `plan.pretrained_bundles`, or one pretrained
    here once (skipped when it is already complete; `stale_bundles` checks it was made the
    same way).

    It takes one of `plan.slots`, so with `jobs` > 1 the backbones pretrain side by side, each
    on `plan.threads` threads: like fine-tuning, a tiny model gets more steps done in total
    that way than by one run at a time on every core."""
    if backbone in plan.pretrained_bundles:
        return plan.pretrained_bundles[backbone]
    bundle = bundle_dir(backbone, plan)
    if not os.path.isfile(os.path.join(bundle, "config.json")):
        with plan.slots:
            _say(f"pretraining {backbone} ({plan.budget.pretrain_steps} steps)")
            run_script(
                "train_bert_lm.py",
                pretraining_args(backbone, plan, vocab_file),
                bundle + ".log",
                plan.threads,
            )
    return bundle


def run_name(backbone, arm, train_file, learning_rate, seed, budget, pretrained_steps=None):
    """A fine-tuning run's directory name: every setting its result depends on, beside those
    that give a variant its own work directory (`pretrain_vs_scratch_inputs.variant_work_dir`).

    A scratch run does not depend on how long the bundle was pretrained (it loads only the
    vocabulary and architecture), so its name leaves that out and budgets that differ only in
    pretraining steps share their scratch runs. A pretrained run is named by its bundle's
    steps (`pretrained_steps`, the budget's by default). Single-label runs end in
    `_single_label` (multi-label names are as they always were, so earlier runs are found).
    """
    steps = budget.pretrain_steps if pretrained_steps is None else pretrained_steps
    arm_part = f"pretrained{steps}" if arm == "pretrained" else arm
    pooling = budget.pooling_of(backbone)
    pooling_part = "" if pooling == "mean" else f"_{pooling}pool"
    return (
        f"{backbone}_{train_file.split('.')[0]}_{arm_part}{pooling_part}"
        f"_lr{learning_rate:g}_s{seed}{_problem_suffix(budget)}"
    )


def _problem_suffix(budget):
    return "" if budget.problem_type == "multi_label" else f"_{budget.problem_type}"


def finetune(bundle, backbone, arm, train_file, learning_rate, seed, plan):
    """One fine-tuning run's record (run, or read back if it already finished)."""
    given = plan.pretrained_bundles.get(backbone)
    steps = inputs.bundle_steps(given) if given else None
    name = run_name(backbone, arm, train_file, learning_rate, seed, plan.budget, steps)
    output = os.path.join(plan.work_dir, name)
    metrics_path = os.path.join(output, "metrics.json")
    if not os.path.isfile(metrics_path):
        with plan.slots:
            _say(f"fine-tuning {name}")
            run_script(
                "train_bert_fine_tuning.py",
                [
                    f"--init_checkpoint={bundle}",
                    f"--load_weights={arm == 'pretrained'}",
                    f"--train_file={os.path.join(plan.data_dir, train_file)}",
                    f"--valid_file={os.path.join(plan.data_dir, 'valid.txt')}",
                    f"--test_file={os.path.join(plan.data_dir, 'test.txt')}",
                    f"--output_dir={output}",
                    f"--epochs={plan.budget.epochs[train_file]}",
                    f"--learning_rate={learning_rate}",
                    f"--seed={seed}",
                    f"--pooling={plan.budget.pooling_of(backbone)}",
                    f"--problem_type={plan.budget.problem_type}",
                    *plan.budget.finetune_flags,
                    *(
                        [f"--select_epoch_on={plan.budget.select_epoch_on}"]
                        if plan.budget.select_epoch_on
                        else []
                    ),
                    *(
                        [f"--dropout={plan.budget.finetune_dropout}"]
                        if plan.budget.finetune_dropout is not None
                        else []
                    ),
                ],
                output + ".log",
                plan.threads,
            )
    return reports.finetune_row(output)


def tfidf_record(train_file, plan):
    """The TF-IDF + logistic-regression reference on one labeled-set size (fitted once; a
    rerun reads its result back). Other features than words fit a reference of their own."""
    features = plan.tfidf_features
    name = (
        f"tfidf_lr_{train_file.split('.')[0]}{_problem_suffix(plan.budget)}"
        f"{'' if features == 'word' else '_' + features}.json"
    )
    path = os.path.join(plan.work_dir, name)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    files = [os.path.join(plan.data_dir, f) for f in (train_file, "valid.txt", "test.txt")]
    single_label = plan.budget.problem_type == "single_label"
    # A multi-label reference fits its labels `plan.jobs` at once (the figures do not depend
    # on it) under one slot: a few minutes of oversubscription instead of the slowest part of
    # a budget.
    with plan.slots:
        _say(f"fitting TF-IDF + logistic regression on {train_file}")
        if single_label:
            baseline = run_tfidf_single_label_baseline(*files, features=features)
        else:
            baseline = run_tfidf_baseline(*files, jobs=max(1, plan.jobs), features=features)
    record = {
        "backbone": "none",
        "train_file": train_file,
        "arm": "tfidf_lr",
        "seed": 0,
        "learning_rate": None,
        "c": baseline["c"],
        "c_sweep": baseline["tried"],
        "chosen": True,
        "stage": "baseline",
        "features": features,
        "test_macro_f1": baseline["test"]["macro_f1"],
        "valid_curve": [],
        "wall_seconds": baseline["wall_seconds"],
    }
    if single_label:
        record.update(
            problem_type="single_label",
            test_accuracy=baseline["test"]["accuracy"],
            valid_accuracy=baseline["valid"]["accuracy"],
            valid_macro_f1=baseline["valid"]["macro_f1"],
        )
    else:
        record.update(
            test_micro_f1=baseline["test"]["micro_f1"],
            test_mean_f1=baseline["test"]["mean_f1"],
            valid_micro_f1=baseline["valid"]["micro_f1"],
        )
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    return record


def arm_records(bundle, backbone, arm, train_file, plan, rate=None):
    """One arm's learning-rate sweep (first seed), then the other seeds at the chosen rate;
    with `rate` given, every seed at it and no sweep.

    The sweep starts at the budget's rates; while the best rate on valid is the highest or
    lowest one tried, it tries the next rate of `LEARNING_RATE_LADDER` beyond it, so each arm's
    choice is bracketed instead of pinned to the edge of a grid picked in advance.
    """
    seeds = plan.budget.seeds
    rates = list(plan.budget.learning_rates)

    def runs(rates_and_seeds):
        """Fine-tunes at each (rate, seed) at once; `plan.slots` caps how many really run."""
        with concurrent.futures.ThreadPoolExecutor(max(1, len(rates_and_seeds))) as pool:
            return list(
                pool.map(
                    lambda rate_seed: finetune(bundle, backbone, arm, train_file, *rate_seed, plan),
                    rates_and_seeds,
                )
            )

    if rate is not None:
        given = runs([(rate, seed) for seed in seeds])
        for record in given:
            record.update(backbone=backbone, chosen=True, stage="seed")
        return given
    sweep = runs([(rate, seeds[0]) for rate in rates])
    while True:
        best = max(sweep, key=lambda r: r[plan.budget.selection_metric])
        beyond = _next_rate_beyond(best["learning_rate"], rates)
        if beyond is None:
            break
        rates.append(beyond)
        sweep.append(finetune(bundle, backbone, arm, train_file, beyond, seeds[0], plan))
    for record in sweep:
        record.update(backbone=backbone, chosen=record is best, stage="sweep")
    repeats = runs([(best["learning_rate"], seed) for seed in seeds[1:]])
    for record in repeats:
        record.update(backbone=backbone, chosen=True, stage="seed")
    return sweep + repeats


def _next_rate_beyond(best, tried):
    """The ladder's next rate past `best` when it is an edge of `tried`, else None."""
    step = LEARNING_RATE_LADDER.index(best)
    if best == max(tried) and step + 1 < len(LEARNING_RATE_LADDER):
        return LEARNING_RATE_LADDER[step + 1]
    if best == min(tried) and step > 0:
        return LEARNING_RATE_LADDER[step - 1]
    return None


def run_benchmark(plan, backbone_names):
    """Runs the benchmark, smallest labeled set first; yields the records so far after each
    finished group, so the report can be written as results come in."""
    os.makedirs(plan.work_dir, exist_ok=True)
    vocab_file = shared_vocabulary(plan)
    records = []
    # Threads only wait on runs (`plan.slots` caps those): one per pretraining, two arms per
    # backbone. All backbones' arms of a labeled set go at once, so a slot one arm leaves free
    # (e.g. while another extends its sweep one run at a time) goes to another; the next set
    # starts when this one is done, so results come smallest set first.
    with concurrent.futures.ThreadPoolExecutor(3 * len(backbone_names)) as pool:
        pretraining = {
            name: pool.submit(pretrain, name, plan, vocab_file) for name in backbone_names
        }

        chosen_rates = {}  # (backbone, arm, train file) -> the rate its runs chose

        def arm_after_pretraining(backbone, arm, train_file):
            source = plan.budget.rates_from.get(train_file)
            rate = chosen_rates[(backbone, arm, source)] if source else None
            return arm_records(
                pretraining[backbone].result(), backbone, arm, train_file, plan, rate
            )

        for train_file in plan.budget.train_files:
            arms = {
                backbone: {
                    arm: pool.submit(arm_after_pretraining, backbone, arm, train_file)
                    for arm in ("pretrained", "scratch")
                }
                for backbone in backbone_names
            }
            records.append(tfidf_record(train_file, plan))
            yield records
            for backbone in backbone_names:
                for arm, runs in arms[backbone].items():
                    finished = runs.result()
                    best = next(r for r in finished if r["chosen"])
                    chosen_rates[(backbone, arm, train_file)] = best["learning_rate"]
                    records.extend(finished)
                yield records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="quick")
    parser.add_argument(
        "--data_dir",
        required=True,
        help="Holds pretrain.txt, valid.txt, test.txt and the budget's train files "
        "(train_small.txt, train.txt), e.g. ../shared/data/debian-tags.",
    )
    parser.add_argument(
        "--pretrain_corpus",
        default="",
        help="The raw corpus, when --data_dir has no pretrain.txt (e.g. debian-sections, "
        "whose corpus is ../shared/data/debian-tags/pretrain.txt). With the same --work_dir, "
        "label sets of one corpus share its vocabulary and bundles.",
    )
    parser.add_argument(
        "--problem_type",
        choices=sorted(problem_types.PROBLEM_TYPES),
        help="Fine-tuning's --problem_type (default: the budget's, multi_label); runs are "
        "named by it.",
    )
    parser.add_argument("--work_dir", default=os.path.join(ROOT, "runs", "benchmark"))
    parser.add_argument(
        "--out",
        help="Path prefix of the report's .json, .md and .png (default: the committed "
        "docs/benchmarks/pretrain_vs_scratch_full for --budget=full, "
        "docs/benchmarks/pretrain_vs_scratch for --budget=full_mlm_nsp, with _single_label "
        "for --problem_type=single_label; else in the work directory, so a quick run never "
        "overwrites the committed figures).",
    )
    parser.add_argument("--backbones", default="transformer,textcnn")
    parser.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="Runs at once (pretraining or fine-tuning), sharing the cores.",
    )
    parser.add_argument(
        "--pretrain_steps",
        type=int,
        help="Override the budget's pretraining steps (pretrained runs are named by them; "
        "scratch runs are shared).",
    )
    parser.add_argument(
        "--seeds",
        help="Comma-separated fine-tuning seeds instead of the budget's (the first sweeps the "
        "learning rate), e.g. 0 for a one-seed look.",
    )
    parser.add_argument(
        "--pooling",
        choices=POOLINGS,
        help="One classifier pooling for every backbone instead of each backbone's default "
        "(runs are named by it).",
    )
    parser.add_argument(
        "--train_files",
        help="Comma-separated subset of the budget's labeled train files, e.g. train_small.txt.",
    )
    parser.add_argument(
        "--pretrained_bundle",
        action="append",
        default=[],
        metavar="BACKBONE=PATH",
        help="Start both arms of BACKBONE from this bundle instead of pretraining one "
        "(repeatable, one per backbone). The bundles pretrained here then use its vocabulary "
        "(unless --vocab_file).",
    )
    parser.add_argument(
        "--vocab_file",
        default="",
        help="The vocabulary of the bundles pretrained here, instead of learning one.",
    )
    parser.add_argument(
        "--tfidf_features",
        choices=sorted(FEATURES),
        default="word",
        help="The TF-IDF reference's features: "
        + "; ".join(f"{name}: {f.description}" for name, f in FEATURES.items())
        + ". Use char for text without spaces between words (Chinese, Japanese).",
    )
    parser.add_argument(
        "--pretrain_flags",
        default="",
        help='More train_bert_lm.py flags for the bundles pretrained here, e.g. "--tasks=masked_lm '
        '--dropout=0".',
    )
    parser.add_argument(
        "--finetune_flags",
        default="",
        help="More train_bert_fine_tuning.py flags for every fine-tuning run of both arms, e.g. "
        '"--max_seq_length=256" (the bundles need as many positions: give --pretrain_flags '
        "the same).",
    )
    parser.add_argument(
        "--finetune_dropout",
        type=float,
        help="Fine-tune both arms with this --dropout (default: train_bert_fine_tuning.py's).",
    )
    args = parser.parse_args()
    backbone_names = args.backbones.split(",")
    try:
        budget = budget_with_overrides(
            BUDGETS[args.budget],
            args.pretrain_steps,
            args.pooling,
            args.train_files,
            args.problem_type,
            pretrain_flags=tuple(shlex.split(args.pretrain_flags)),
            finetune_flags=tuple(shlex.split(args.finetune_flags)),
            finetune_dropout=args.finetune_dropout,
            seeds=args.seeds,
        )
        bundles = inputs.parse_pretrained_bundles(args.pretrained_bundle, backbone_names)
    except ValueError as e:
        parser.error(str(e))
    if args.vocab_file and not os.path.isfile(args.vocab_file):
        parser.error(f"--vocab_file={args.vocab_file}: no such file")
    # Given bundles, vocabularies and flags make other runs under the same names: a variant
    # gets a work directory of its own.
    variant = dict(
        pretrained_bundles=bundles,
        vocab_file=args.vocab_file,
        pretrain_flags=budget.pretrain_flags,
        finetune_flags=budget.finetune_flags,
        finetune_dropout=budget.finetune_dropout,
    )
    plan = Plan(
        budget,
        args.data_dir,
        inputs.variant_work_dir(os.path.join(args.work_dir, args.budget), variant),
        args.jobs,
        pretrain_corpus=args.pretrain_corpus,
        pretrained_bundles=bundles,
        vocab_file=args.vocab_file,
        tfidf_features=args.tfidf_features,
    )
    missing = missing_data_files(plan, backbone_names)
    if missing:
        parser.error(f"missing {', '.join(missing)}")
    stale = stale_bundles(plan, backbone_names)
    if stale:
        parser.error(
            "the work directory holds bundles pretrained otherwise than this budget says; give "
            "another --work_dir, or the budget they were made with:\n  " + "\n  ".join(stale)
        )
    out = args.out or (
        COMMITTED_REPORTS.get(args.budget, os.path.join(plan.work_dir, "pretrain_vs_scratch"))
        + _problem_suffix(budget)
    )
    command = " ".join(
        ["python -m benchmarks.pretrain_vs_scratch", *map(shlex.quote, sys.argv[1:])]
    )
    for records in run_benchmark(plan, backbone_names):
        report = write_outputs(records, budget, backbone_names, command, out)
    print(report)


def missing_data_files(plan, backbone_names):
    """The files a plan reads that do not exist (paths as given); the corpus only when some
    backbone is pretrained here."""
    labeled = ("valid.txt", "test.txt", *plan.budget.train_files)
    needed = [os.path.join(plan.data_dir, name) for name in labeled]
    if any(name not in plan.pretrained_bundles for name in backbone_names):
        needed.insert(0, plan.corpus)
    return [path for path in needed if not os.path.isfile(path)]


def budget_with_overrides(
    budget,
    pretrain_steps=None,
    pooling=None,
    train_files=None,
    problem_type=None,
    *,
    pretrain_flags=(),
    finetune_flags=(),
    finetune_dropout=None,
    seeds=None,
):
    """The budget with the command line's overrides applied.

    A `problem_type` that cannot choose its epoch on the budget's `select_epoch_on` (single-label
    has no mean-F1) chooses on its own default instead. `train_files` keeps, before them, the
    files whose rates they reuse (`Budget.rates_from`): their sweeps run, or are read back.

    Raises:
        ValueError: `train_files` names a file the budget does not have.
    """
    changes = {}
    if pretrain_steps:
        changes["pretrain_steps"] = pretrain_steps
    if pooling:
        changes["pooling"] = pooling
    if train_files:
        names = train_files.split(",")
        unknown = [name for name in names if name not in budget.epochs]
        if unknown:
            raise ValueError(f"--train_files: {unknown} not in the budget's {budget.train_files}")
        needed = [budget.rates_from[name] for name in names if name in budget.rates_from]
        kept = [name for name in budget.train_files if name in needed + names]
        changes["epochs"] = {name: budget.epochs[name] for name in kept}
    if problem_type:
        changes["problem_type"] = problem_type
        if budget.select_epoch_on not in problem_types.get(problem_type).epoch_selections:
            changes["select_epoch_on"] = None
    if pretrain_flags:
        changes["pretrain_flags"] = tuple(pretrain_flags)
    if finetune_flags:
        changes["finetune_flags"] = (*budget.finetune_flags, *finetune_flags)
    if finetune_dropout is not None:
        changes["finetune_dropout"] = finetune_dropout
    if seeds:
        try:
            changes["seeds"] = tuple(int(seed) for seed in seeds.split(","))
        except ValueError:
            raise ValueError(f"--seeds={seeds}: expected comma-separated integers") from None
    return dataclasses.replace(budget, **changes)


if __name__ == "__main__":
    main()
