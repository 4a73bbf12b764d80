"""What pretraining gains, measured fairly: pretrained vs. no-pretrain, per backbone and size.

    python -m bert_tf.benchmark --budget=quick   # about 20 minutes on 2 cores: one seed, short
    python -m bert_tf.benchmark --budget=full    # about 3 hours: the committed figures' settings

For every backbone it pretrains one bundle (reused by all its fine-tuning runs). For every
labeled-set size and arm (`pretrained`: the bundle's weights; `scratch`: the same vocabulary,
architecture, epochs, batch size and schedule with fresh weights) it sweeps the learning rate,
picks the best on valid micro-F1, and runs the other seeds at that rate. TF-IDF + logistic
regression is the reference. Every run is the real script in a subprocess; a run whose
`metrics.json` exists is reused, so an interrupted benchmark continues where it stopped.
Writes `<out>.json` (run records), `<out>.md` and `<out>.png` (learning curves).
"""

import argparse
import concurrent.futures
import dataclasses
import json
import os
import subprocess
import sys
import time

import numpy as np

from bert_tf import reports
from bert_tf.tfidf_baseline import run_tfidf_baseline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Learning rates a sweep may try, in order; budgets start from a run of consecutive ones.
LEARNING_RATE_LADDER = (3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
#: The issue's bar: the pretrained arm's test micro-F1 gain over the tuned scratch arm.
GAIN_TARGET_POINTS = 5.0


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much compute a benchmark spends.

    `epochs` maps each labeled train file to its fine-tuning epochs (both arms get the same).
    """

    model_size: str
    pretrain_steps: int
    pretrain_learning_rate: float
    epochs: dict
    learning_rates: tuple
    seeds: tuple

    @property
    def train_files(self):
        return tuple(self.epochs)


BUDGETS = {
    "quick": Budget("tiny", 1000, 1e-3, {"train_small.txt": 3}, (3e-4, 1e-3, 3e-3), (0,)),
    "full": Budget(
        "tiny",
        6000,
        1e-3,
        {"train_small.txt": 10, "train.txt": 2},
        (3e-4, 1e-3, 3e-3),
        (0, 1, 2),
    ),
}


@dataclasses.dataclass(frozen=True)
class Plan:
    """A budget and where its runs read and write.

    `jobs` fine-tuning runs go at once (the two arms side by side when 2), each limited to
    `threads` TensorFlow threads: on 2 cores, two one-thread runs of a tiny model get more
    done than one run using both. Pretraining always runs alone, with every core.
    """

    budget: Budget
    data_dir: str
    work_dir: str
    jobs: int = 1

    @property
    def threads(self):
        return max(1, (os.cpu_count() or 1) // self.jobs) if self.jobs > 1 else 0


def _say(message):
    """One whole line on stdout, even with runs going in parallel threads."""
    sys.stdout.write(f"{time.strftime('%H:%M:%S')} {message}\n")
    sys.stdout.flush()


def _run(script, args, log_path, threads=0):
    """Runs a script of this project (`threads` > 0 caps TensorFlow's thread pools); raises
    with the log's tail if it fails."""
    env = dict(os.environ)
    if threads:
        env.update(
            TF_NUM_INTRAOP_THREADS=str(threads),
            TF_NUM_INTEROP_THREADS=str(threads),
            OMP_NUM_THREADS=str(threads),
        )
    with open(log_path, "w", encoding="utf-8") as log:
        result = subprocess.run(
            [sys.executable, os.path.join(ROOT, script), *args],
            stdout=log,
            stderr=log,
            cwd=ROOT,
            env=env,
        )
    if result.returncode:
        with open(log_path, encoding="utf-8") as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f"{script} failed (log {log_path}):\n{tail}")


def pretrain(backbone, plan, vocab_file):
    """The backbone's bundle, pretrained once (skipped when it is already complete)."""
    budget = plan.budget
    bundle = os.path.join(plan.work_dir, f"bundle_{backbone}")
    if not os.path.isfile(os.path.join(bundle, "config.json")):
        args = [
            f"--corpus={os.path.join(plan.data_dir, 'pretrain.txt')}",
            f"--output_dir={bundle}",
            f"--backbone={backbone}",
            f"--model_size={budget.model_size}",
            f"--num_train_steps={budget.pretrain_steps}",
            f"--learning_rate={budget.pretrain_learning_rate}",
        ]
        if vocab_file:
            args.append(f"--vocab_file={vocab_file}")
        _say(f"pretraining {backbone} ({budget.pretrain_steps} steps)")
        _run("train_bert_lm.py", args, bundle + ".log")
    return bundle


def finetune(bundle, arm, train_file, learning_rate, seed, plan):
    """One fine-tuning run's record (run, or read back if it already finished)."""
    name = (
        f"{os.path.basename(bundle)}_{train_file.split('.')[0]}_{arm}_lr{learning_rate:g}_s{seed}"
    )
    output = os.path.join(plan.work_dir, name)
    metrics_path = os.path.join(output, "metrics.json")
    if not os.path.isfile(metrics_path):
        _say(f"fine-tuning {name}")
        _run(
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
            ],
            output + ".log",
            plan.threads,
        )
    return reports.finetune_row(output)


def tfidf_record(train_file, plan):
    """The TF-IDF + logistic-regression reference on one labeled-set size (fitted once; a
    rerun reads its result back)."""
    path = os.path.join(plan.work_dir, f"tfidf_lr_{train_file.split('.')[0]}.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    _say(f"fitting TF-IDF + logistic regression on {train_file}")
    baseline = run_tfidf_baseline(
        os.path.join(plan.data_dir, train_file),
        os.path.join(plan.data_dir, "valid.txt"),
        os.path.join(plan.data_dir, "test.txt"),
    )
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
        "test_micro_f1": baseline["test"]["micro_f1"],
        "test_macro_f1": baseline["test"]["macro_f1"],
        "test_mean_f1": baseline["test"]["mean_f1"],
        "valid_micro_f1": baseline["valid"]["micro_f1"],
        "valid_curve": [],
        "wall_seconds": baseline["wall_seconds"],
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    return record


def arm_records(bundle, backbone, arm, train_file, plan):
    """One arm's learning-rate sweep (first seed), then the other seeds at the chosen rate.

    The sweep starts at the budget's rates; while the best rate on valid is the highest or
    lowest one tried, it tries the next rate of `LEARNING_RATE_LADDER` beyond it, so each arm's
    choice is bracketed instead of pinned to the edge of a grid picked in advance.
    """
    seeds = plan.budget.seeds
    rates = list(plan.budget.learning_rates)
    sweep = [finetune(bundle, arm, train_file, lr, seeds[0], plan) for lr in rates]
    while True:
        best = max(sweep, key=lambda r: r["valid_micro_f1"])
        beyond = _next_rate_beyond(best["learning_rate"], rates)
        if beyond is None:
            break
        rates.append(beyond)
        sweep.append(finetune(bundle, arm, train_file, beyond, seeds[0], plan))
    for record in sweep:
        record.update(backbone=backbone, chosen=record is best, stage="sweep")
    repeats = [
        finetune(bundle, arm, train_file, best["learning_rate"], seed, plan) for seed in seeds[1:]
    ]
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
    records, bundles, vocab_file = [], {}, None
    with concurrent.futures.ThreadPoolExecutor(plan.jobs) as pool:
        for train_file in plan.budget.train_files:
            records.append(tfidf_record(train_file, plan))
            yield records
            for backbone in backbone_names:
                if backbone not in bundles:
                    bundles[backbone] = pretrain(backbone, plan, vocab_file)
                    vocab_file = vocab_file or os.path.join(bundles[backbone], "vocab.txt")
                arms = [
                    pool.submit(arm_records, bundles[backbone], backbone, arm, train_file, plan)
                    for arm in ("pretrained", "scratch")
                ]
                for arm in arms:
                    records.extend(arm.result())
                yield records


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return (
        f"{np.mean(values):.4f} ± {np.std(values):.4f}" if len(values) > 1 else f"{values[0]:.4f}"
    )


def _curve_at(runs, epoch_index):
    """Mean ± std of valid micro-F1 at an epoch (index into the curves), over runs."""
    at_epoch = [r["valid_curve"][epoch_index:][:1] for r in runs]
    return _mean_std([value[0] for value in at_epoch if value])


def markdown_report(records, budget_name):
    """Tables per backbone and size (chosen runs, mean ± std over seeds) and the gain."""
    lines = [
        f"Budget: `{budget_name}`. Mean ± std over seeds at each arm's chosen learning rate.",
        "",
    ]
    chosen = [r for r in records if r["chosen"]]
    for train_file in sorted({r["train_file"] for r in chosen}):
        lines += [
            f"### {train_file}",
            "",
            "| backbone | arm | lr | seeds | valid F1 ep 1 | ep 5 | ep N | best ep | "
            "loss at start | valid loss ep 1 | test micro-F1 | test macro-F1 | test mean-F1 | "
            "minutes |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        groups = {}
        for r in chosen:
            if r["train_file"] == train_file:
                groups.setdefault((r["backbone"], r["arm"]), []).append(r)
        for (backbone, arm), runs in sorted(groups.items()):
            rate = runs[0]["learning_rate"]
            setting = f"{rate:g}" if rate else f"C={runs[0]['c']:g}"
            best_epochs = [r["best_epoch"] for r in runs if r.get("best_epoch")]
            lines.append(
                f"| {backbone} | {arm} | {setting} | "
                f"{len(runs)} | {_curve_at(runs, 0)} | {_curve_at(runs, 4)} | "
                f"{_curve_at(runs, -1)} | {','.join(map(str, best_epochs)) or '–'} | "
                f"{_mean_std([r.get('first_step_loss') for r in runs])} | "
                f"{_mean_std([r.get('epoch1_valid_loss') for r in runs])} | "
                f"{_mean_std([r['test_micro_f1'] for r in runs])} | "
                f"{_mean_std([r['test_macro_f1'] for r in runs])} | "
                f"{_mean_std([r['test_mean_f1'] for r in runs])} | "
                f"{np.mean([r['wall_seconds'] for r in runs]) / 60:.1f} |"
            )
        lines.append("")
        for backbone in sorted({b for b, _ in groups if b != "none"}):
            pre = [r["test_micro_f1"] for r in groups.get((backbone, "pretrained"), [])]
            scratch = [r["test_micro_f1"] for r in groups.get((backbone, "scratch"), [])]
            if pre and scratch:
                gain = 100 * (np.mean(pre) - np.mean(scratch))
                spread = 2 * 100 * max(np.std(pre), np.std(scratch))
                met = gain >= GAIN_TARGET_POINTS and gain > spread
                lines.append(
                    f"- {backbone}: pretraining gains {gain:+.1f} points of test micro-F1 "
                    f"(twice the larger std: {spread:.1f} points; target of at least "
                    f"{GAIN_TARGET_POINTS} points and more than twice the std "
                    f"{'met' if met else 'not met'})."
                )
            tfidf = [r["test_micro_f1"] for r in groups.get(("none", "tfidf_lr"), [])]
            if pre and tfidf:
                lines.append(
                    f"- {backbone}, pretrained vs. TF-IDF + logistic regression: "
                    f"{np.mean(pre):.4f} vs. {tfidf[0]:.4f} test micro-F1 "
                    f"({'above' if np.mean(pre) > tfidf[0] else 'not above'})."
                )
        lines.append("")
    return "\n".join(lines)


def plot_curves(records, path):
    """Valid micro-F1 per epoch, both arms, one panel per backbone and size; TF-IDF dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["backbone"], r["train_file"]) for r in records if r["valid_curve"]})
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for axis, (backbone, train_file) in zip(axes[0], panels):
        for arm, color in (("pretrained", "tab:blue"), ("scratch", "tab:orange")):
            runs = [
                r
                for r in records
                if r["chosen"]
                and r["backbone"] == backbone
                and r["train_file"] == train_file
                and r["arm"] == arm
            ]
            for i, r in enumerate(runs):
                epochs = range(1, len(r["valid_curve"]) + 1)
                axis.plot(
                    epochs,
                    r["valid_curve"],
                    color=color,
                    alpha=0.8,
                    label=f"{arm} (lr {r['learning_rate']:g})" if i == 0 else None,
                )
        for r in records:
            if r["arm"] == "tfidf_lr" and r["train_file"] == train_file:
                axis.axhline(r["valid_micro_f1"], color="gray", linestyle="--", label="TF-IDF + LR")
        axis.set_title(f"{backbone}, {train_file}")
        axis.set_xlabel("epoch")
        axis.set_ylabel("valid micro-F1")
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="quick")
    parser.add_argument(
        "--data_dir", default=os.path.join(ROOT, "..", "shared", "data", "debian-tags")
    )
    parser.add_argument("--work_dir", default=os.path.join(ROOT, "runs", "benchmark"))
    parser.add_argument(
        "--out", default=os.path.join(ROOT, "docs", "benchmarks", "pretrain_vs_scratch")
    )
    parser.add_argument("--backbones", default="transformer,textcnn")
    parser.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="Fine-tuning runs at once, sharing the cores (pretraining always runs alone).",
    )
    args = parser.parse_args()
    budget = BUDGETS[args.budget]
    plan = Plan(budget, args.data_dir, os.path.join(args.work_dir, args.budget), args.jobs)
    for records in run_benchmark(plan, args.backbones.split(",")):
        report = write_outputs(records, budget, args.budget, args.out)
    print(report)


HOW_TO_READ = """\
Both arms of a backbone load the same bundle's vocabulary and architecture and share epochs
and every other fine-tuning setting (the defaults of `train_bert_fine_tuning.py`, recorded in
each run's `metrics.json`: batch size, schedule, head, the rule for deciding labels);
`pretrained` loads the bundle's weights, `scratch` does not (`--noload_weights`). Each arm
sweeps its own learning rate on seed 0 (extended past the grid while the best is at an edge),
picks it on valid micro-F1, then runs the remaining seeds at it. Test is scored once per run,
with the weights of the epoch with the best valid micro-F1. TF-IDF (1-2 grams) + one-vs-rest
logistic regression is the reference, its C and threshold chosen on valid. Rows are the chosen
runs, mean ± std over seeds; "best ep" lists each seed's chosen epoch; minutes are per run,
with `--jobs` runs sharing the cores.
"""


def write_outputs(records, budget, budget_name, out):
    """Writes `<out>.json`, `.md` and `.png` from the records so far; returns the report."""
    with open(out + ".json", "w", encoding="utf-8") as f:
        json.dump(records, f, indent=2)
        f.write("\n")
    report = markdown_report(records, budget_name)
    finished = {r["train_file"] for r in records if r["arm"] == "scratch"}
    missing = [name for name in budget.train_files if name not in finished]
    if missing:
        report += (
            f"\nNot run yet: the runs on {', '.join(missing)}. Rerunning the "
            "command continues from the finished runs.\n"
        )
    with open(out + ".md", "w", encoding="utf-8") as f:
        f.write(
            "# Pretrained vs. no-pretrain\n\n"
            f"Command: `python -m bert_tf.benchmark --budget={budget_name}`. "
            f"Budget settings: `{budget}`\n\n{HOW_TO_READ}\n{report}\n"
        )
    if any(r["valid_curve"] for r in records):
        plot_curves(records, out + ".png")
    return report


if __name__ == "__main__":
    main()
