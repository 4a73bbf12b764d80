"""Quality per CPU-minute: fine-tuned test micro- and macro-F1 against the CPU-minutes spent
pretraining, one curve per pretraining recipe, with TF-IDF + logistic regression as the line to
beat.

    python -m benchmarks.quality_per_minute --data_dir=../shared/data/debian-tags \\
        --recipes=bert,mlm_nodrop --minutes=5,10,20,40 --out=docs/benchmarks/quality_per_minute

Every pretraining run gets one thread (two run side by side with `--jobs=2`), so a CPU-minute
is a minute of one core. A recipe is first calibrated: a short run gives its steps/s and its
fixed cost (reading and tokenizing the corpus, building the model); each point then trains as
many steps as fit its minutes. The curve's x is the CPU time the pretraining process really
used (user + system, from the operating system), not the target. Each bundle is fine-tuned as
`benchmarks.pretrain_vs_scratch` does (learning rate chosen on valid, then more seeds), with the
same fine-tuning flags for every point and for the scratch point at 0 minutes. Runs whose
results exist are reused, so an interrupted benchmark continues where it stopped.
"""

import argparse
import concurrent.futures
import dataclasses
import json
import os
import sys
import threading

from benchmarks import pretrain_vs_scratch as pvs
from benchmarks.quality_per_minute_report import earlier_curves, write_outputs
from benchmarks.script_runs import run_script


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A way to pretrain: `train_bert_lm.py` flags beside the corpus, vocabulary and steps;
    `vocab_size` learns a vocabulary of that size for it (learned once, outside the pretraining
    run and its CPU-minutes, as the shared one is) instead of the shared default-size one."""

    description: str
    flags: tuple
    vocab_size: int | None = None


RECIPES = {
    "bert": Recipe(
        "masked LM (15%) + next sentence, dropout 0.1: `--budget=full` before this benchmark",
        ("--tasks=masked_lm,next_sentence", "--dropout=0.1"),
    ),
    "mlm": Recipe(
        "masked LM (15%) alone, one segment packed from a document's sentences, dropout 0.1",
        ("--tasks=masked_lm", "--dropout=0.1"),
    ),
    "mlm_nodrop": Recipe(
        "masked LM (15%) alone, packed as mlm, no dropout in pretraining",
        ("--tasks=masked_lm", "--dropout=0"),
    ),
    "mlm_nodrop_packed": Recipe(
        "masked LM (15%) alone, no dropout, sequences packed across documents with a [SEP] "
        "between two (RoBERTa's full sentences)",
        ("--tasks=masked_lm", "--dropout=0", "--pack_across_documents"),
    ),
    "mlm_nodrop_mask25": Recipe(
        "masked LM (25%) alone, packed as mlm, no dropout in pretraining",
        ("--tasks=masked_lm", "--dropout=0", "--mask_rate=0.25", "--max_predictions_per_seq=32"),
    ),
    "mlm_nodrop_lr2e-3": Recipe(
        "masked LM (15%) alone, packed as mlm, no dropout, peak learning rate 2e-3 instead of "
        "1e-3 (cramming's higher peak)",
        ("--tasks=masked_lm", "--dropout=0", "--learning_rate=2e-3"),
    ),
    "mlm_nodrop_lr4e-3": Recipe(
        "as mlm_nodrop_lr2e-3 at peak learning rate 4e-3",
        ("--tasks=masked_lm", "--dropout=0", "--learning_rate=4e-3"),
    ),
    "mlm_nodrop_preln_lr2e-3": Recipe(
        "as mlm_nodrop_lr2e-3 with pre-LayerNorm blocks (`--normalize_first`)",
        ("--tasks=masked_lm", "--dropout=0", "--learning_rate=2e-3", "--normalize_first"),
    ),
    "mlm_nodrop_wwm_lr2e-3": Recipe(
        "as mlm_nodrop_lr2e-3 with whole-word masking (`--whole_word_masking`)",
        ("--tasks=masked_lm", "--dropout=0", "--learning_rate=2e-3", "--whole_word_masking"),
    ),
    "mlm_nodrop_preln_lr4e-3": Recipe(
        "as mlm_nodrop_preln_lr2e-3 at peak learning rate 4e-3 (post-LayerNorm breaks there)",
        ("--tasks=masked_lm", "--dropout=0", "--learning_rate=4e-3", "--normalize_first"),
    ),
    "mlm_nodrop_lr2e-3_triangle": Recipe(
        "as mlm_nodrop_lr2e-3 warming up for half the steps: a triangle peaking halfway "
        "(cramming's one-cycle) instead of 10% warmup",
        ("--tasks=masked_lm", "--dropout=0", "--learning_rate=2e-3", "--warmup_proportion=0.5"),
    ),
    "mlm_nodrop_lr2e-3_batch128": Recipe(
        "as mlm_nodrop_lr2e-3 with batches of 128 sequences instead of 32: cramming's larger "
        "batches, as a step over 4 accumulated batches of 32 would be, at the same peak rate",
        ("--tasks=masked_lm", "--dropout=0", "--learning_rate=2e-3", "--batch_size=128"),
    ),
    "mlm_nodrop_lr2e-3_noclip": Recipe(
        "as mlm_nodrop_lr2e-3 without gradient clipping (BERT's and cramming's global norm 1)",
        ("--tasks=masked_lm", "--dropout=0", "--learning_rate=2e-3", "--clip_norm=0"),
    ),
    "mlm_nodrop_lr2e-3_vocab16k": Recipe(
        "as mlm_nodrop_lr2e-3 with a 16k vocabulary instead of 8k",
        ("--tasks=masked_lm", "--dropout=0", "--learning_rate=2e-3"),
        vocab_size=16000,
    ),
    "mlm_nodrop_lr2e-3_vocab32k": Recipe(
        "as mlm_nodrop_lr2e-3 with a 32k vocabulary instead of 8k",
        ("--tasks=masked_lm", "--dropout=0", "--learning_rate=2e-3"),
        vocab_size=32000,
    ),
    "electra": Recipe(
        "ELECTRA replaced-token detection (15% masked; generator 1/4 of the width, "
        "discriminator loss weight 50), packed as mlm, no dropout in pretraining",
        ("--tasks=replaced_token_detection", "--dropout=0"),
    ),
}

#: Steps of a calibration run: long enough that tracing is a small part of it.
CALIBRATION_STEPS = 400
MODEL_SIZE = "tiny"
BACKBONE = "transformer"
PRETRAIN_LEARNING_RATE = 1e-3
#: The learning rates a fine-tuning sweep starts from.
FINETUNE_LEARNING_RATES = (3e-4, 1e-3, 3e-3)


@dataclasses.dataclass(frozen=True)
class FinetuneRecipe:
    """How every point is fine-tuned (`--finetune_recipe`): epochs and the valid figure that
    chooses the epoch (and the learning rate of a sweep), with dropout 0.1 whatever the bundle
    was pretrained with."""

    description: str
    epochs: int
    select_epoch_on: str | None = None


FINETUNE_RECIPES = {
    "epochs20_mean_f1": FinetuneRecipe(
        "20 epochs, the epoch and a sweep's rate chosen on valid mean-F1 ((micro + macro) / 2)",
        20,
        "mean_f1",
    ),
    "epochs10": FinetuneRecipe(
        "10 epochs, the epoch and a sweep's rate chosen on valid micro-F1 (the recipe before)",
        10,
        "micro_f1",
    ),
}


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """A finished pretraining run: its bundle, steps and the CPU seconds it used."""

    bundle: str
    steps: int
    cpu_seconds: float


def pretrain(recipe_name, steps, directory, plan, vocab_file, seed=0):
    """Pretrains `steps` steps with a recipe and seed into `directory` (reused when already
    done)."""
    record_path = os.path.join(directory, "cpu.json")
    if not os.path.isfile(record_path):
        args = [
            f"--corpus={os.path.join(plan.data_dir, 'pretrain.txt')}",
            f"--output_dir={directory}",
            f"--backbone={BACKBONE}",
            f"--model_size={MODEL_SIZE}",
            f"--num_train_steps={steps}",
            f"--learning_rate={PRETRAIN_LEARNING_RATE}",
            f"--vocab_file={vocab_file}",
            f"--seed={seed}",
            "--noresume",
            *RECIPES[recipe_name].flags,
        ]
        os.makedirs(os.path.dirname(directory), exist_ok=True)
        with plan.slots:
            pvs._say(f"pretraining {recipe_name}: {steps} steps")
            cpu_seconds = run_script("train_bert_lm.py", args, directory + ".log", threads=1)[
                "cpu_seconds"
            ]
        with open(record_path, "w", encoding="utf-8") as f:
            json.dump({"steps": steps, "cpu_seconds": cpu_seconds}, f)
    with open(record_path, encoding="utf-8") as f:
        record = json.load(f)
    return Pretrained(directory, record["steps"], record["cpu_seconds"])


def recipe_vocabularies(recipe_names, plan, shared_vocab_file):
    """Each recipe's vocabulary file: the shared one, or one of the recipe's `vocab_size`
    learned from the corpus (once, then reused)."""
    files = {}
    for name in recipe_names:
        size = RECIPES[name].vocab_size
        files[name] = (
            shared_vocab_file
            if size is None
            else pvs.learned_vocabulary(
                plan, os.path.join(plan.work_dir, f"vocab_{size}.txt"), size
            )
        )
    return files


def calibrate(recipe_name, plan, vocab_file):
    """(steps per CPU-second, fixed CPU seconds) of a recipe, from one short run."""
    run = pretrain(
        recipe_name,
        CALIBRATION_STEPS,
        os.path.join(plan.work_dir, recipe_name, "calibration"),
        plan,
        vocab_file,
    )
    with open(os.path.join(run.bundle, "config.json"), encoding="utf-8") as f:
        rate = json.load(f)["training_summary"]["steps_per_second"]
    fixed = max(0.0, run.cpu_seconds - CALIBRATION_STEPS / rate)
    return rate, fixed


def steps_for(minutes, rate, fixed):
    """The steps that fit `minutes` of CPU time at `rate` steps/s after `fixed` seconds."""
    return max(1, round((60 * minutes - fixed) * rate))


def finetune_records(
    bundle, arm, train_file, directory, plan, pretrained_steps, seeds, recipe, rate=None
):
    """The fine-tuning sweep and seeds of one bundle (`arm` pretrained or scratch) with a
    `FINETUNE_RECIPES` entry, in `directory` (`epochs10`) or its subdirectory named by the
    recipe; with `rate`, no sweep: every seed at that learning rate."""
    chosen = FINETUNE_RECIPES[recipe]
    budget = pvs.Budget(
        MODEL_SIZE,
        pretrained_steps,
        PRETRAIN_LEARNING_RATE,
        {train_file: chosen.epochs},
        FINETUNE_LEARNING_RATES,
        seeds,
        finetune_dropout=0.1,
        select_epoch_on=chosen.select_epoch_on,
    )
    if recipe != "epochs10":  # the runs made before there was a choice sit in `directory`
        directory = os.path.join(directory, recipe)
    point_plan = pvs.Plan(budget, plan.data_dir, directory, plan.jobs, plan.slots)
    os.makedirs(directory, exist_ok=True)
    if rate is None:
        return pvs.arm_records(bundle, BACKBONE, arm, train_file, point_plan)
    with concurrent.futures.ThreadPoolExecutor(len(seeds)) as pool:
        rows = list(
            pool.map(
                lambda seed: pvs.finetune(
                    bundle, BACKBONE, arm, train_file, rate, seed, point_plan
                ),
                seeds,
            )
        )
    for row in rows:
        row.update(backbone=BACKBONE, chosen=True, stage="fixed_rate")
    return rows


def run_benchmark(
    plan,
    recipe_names,
    minutes,
    train_file,
    seeds,
    finetune_recipe,
    finetune_rate=None,
    pretrain_seed=0,
):
    """Yields the records so far after each finished point (calibration, pretraining and
    fine-tuning of one recipe at one budget), so the report can be written as they come.
    A `pretrain_seed` other than 0 pretrains each point again from that seed, into a
    directory of its own; calibration and the scratch point are shared."""
    os.makedirs(plan.work_dir, exist_ok=True)
    vocab_file = pvs.shared_vocabulary(plan)
    vocab_files = recipe_vocabularies(recipe_names, plan, vocab_file)
    records, lock = [], threading.Lock()

    def point(recipe_name, budget_minutes):
        rate, fixed = calibrations[recipe_name].result()
        steps = steps_for(budget_minutes, rate, fixed)
        name = f"{budget_minutes:g}min" + (
            f"_pretrain_seed{pretrain_seed}" if pretrain_seed else ""
        )
        directory = os.path.join(plan.work_dir, recipe_name, name)
        run = pretrain(
            recipe_name,
            steps,
            os.path.join(directory, "bundle"),
            plan,
            vocab_files[recipe_name],
            pretrain_seed,
        )
        rows = finetune_records(
            run.bundle,
            "pretrained",
            train_file,
            directory,
            plan,
            run.steps,
            seeds,
            finetune_recipe,
            finetune_rate,
        )
        for row in rows:
            row.update(
                recipe=recipe_name,
                budget_minutes=budget_minutes,
                cpu_minutes=run.cpu_seconds / 60,
                pretrain_steps=run.steps,
                pretrain_seed=pretrain_seed,
                calibrated_steps_per_second=rate,
            )
        with lock:
            records.extend(rows)

    def scratch():
        bundle = pretrain(
            recipe_names[0], 1, os.path.join(plan.work_dir, "scratch", "bundle"), plan, vocab_file
        ).bundle
        rows = finetune_records(
            bundle,
            "scratch",
            train_file,
            os.path.join(plan.work_dir, "scratch"),
            plan,
            0,
            seeds,
            finetune_recipe,
        )
        for row in rows:
            row.update(recipe="scratch", budget_minutes=0, cpu_minutes=0.0, pretrain_steps=0)
        with lock:
            records.extend(rows)

    tfidf = pvs.tfidf_record(train_file, plan)
    with concurrent.futures.ThreadPoolExecutor(len(recipe_names) * (len(minutes) + 1) + 1) as pool:
        calibrations = {
            name: pool.submit(calibrate, name, plan, vocab_files[name]) for name in recipe_names
        }
        futures = [pool.submit(scratch)]
        futures += [pool.submit(point, name, m) for m in minutes for name in recipe_names]
        for future in concurrent.futures.as_completed(futures):
            future.result()
            with lock:
                snapshot = list(records)
            yield snapshot, tfidf, {n: c.result() for n, c in calibrations.items() if c.done()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", required=True, help="As for benchmarks.pretrain_vs_scratch.")
    parser.add_argument("--work_dir", default=os.path.join(pvs.ROOT, "runs", "quality_per_minute"))
    parser.add_argument("--out", help="Path prefix of the .json, .md and .png report.")
    parser.add_argument("--recipes", default="bert,mlm_nodrop", help=f"Of {sorted(RECIPES)}.")
    parser.add_argument("--minutes", default="5,10,20,40", help="Pretraining CPU-minutes.")
    parser.add_argument("--train_file", default="train_small.txt")
    parser.add_argument("--jobs", type=int, default=2, help="Runs at once, one thread each.")
    parser.add_argument(
        "--seeds", default="0,1,2", help="Fine-tuning seeds (the first sweeps the rate)."
    )
    parser.add_argument(
        "--pretrain_seed",
        type=int,
        default=0,
        help="Pretraining seed; another than 0 pretrains each point again into a directory "
        "of its own, to see how much a point owes to its pretraining run.",
    )
    parser.add_argument(
        "--finetune_recipe",
        default="epochs20_mean_f1",
        choices=sorted(FINETUNE_RECIPES),
        help="How every point is fine-tuned: "
        + "; ".join(f"{name}: {r.description}" for name, r in FINETUNE_RECIPES.items()),
    )
    parser.add_argument(
        "--finetune_learning_rate",
        type=float,
        help="Fine-tune the pretrained points at this rate, chosen beforehand on valid, instead "
        "of sweeping at each point (the scratch point always sweeps).",
    )
    parser.add_argument(
        "--earlier_report",
        action="append",
        default=[],
        help="The .json of an earlier report whose pretrained curves to draw beside this run's "
        "(repeatable), e.g. the recipe before, whose runs are gone.",
    )
    args = parser.parse_args()
    try:
        earlier_runs, earlier_calibrations, earlier_recipes = earlier_curves(
            args.earlier_report, RECIPES
        )
    except (OSError, ValueError, KeyError) as e:
        parser.error(f"--earlier_report: {e}")
    recipe_names = args.recipes.split(",")
    unknown = [name for name in recipe_names if name not in RECIPES]
    if unknown:
        parser.error(f"--recipes: unknown {unknown}; known: {sorted(RECIPES)}")
    minutes = [float(m) for m in args.minutes.split(",")]
    needed = ("pretrain.txt", "valid.txt", "test.txt", args.train_file)
    missing = [name for name in needed if not os.path.isfile(os.path.join(args.data_dir, name))]
    if missing:
        parser.error(f"--data_dir={args.data_dir} lacks {', '.join(missing)}")
    budget = pvs.Budget(MODEL_SIZE, 0, PRETRAIN_LEARNING_RATE, {args.train_file: 1}, (), (0,))
    plan = pvs.Plan(budget, args.data_dir, args.work_dir, args.jobs)
    out = args.out or os.path.join(args.work_dir, "quality_per_minute")
    command = " ".join(["python -m benchmarks.quality_per_minute", *sys.argv[1:]])
    seeds = tuple(int(seed) for seed in args.seeds.split(","))
    runs = run_benchmark(
        plan,
        recipe_names,
        minutes,
        args.train_file,
        seeds,
        args.finetune_recipe,
        args.finetune_learning_rate,
        args.pretrain_seed,
    )
    finetuning = FINETUNE_RECIPES[args.finetune_recipe].description
    for records, tfidf, calibrations in runs:
        report = write_outputs(
            records + earlier_runs,
            tfidf,
            {**calibrations, **earlier_calibrations},
            {**RECIPES, **earlier_recipes},
            args.train_file,
            command,
            out,
            finetuning,
        )
    print(report)


if __name__ == "__main__":
    main()
