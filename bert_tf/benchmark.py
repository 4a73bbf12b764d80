"""What pretraining gains, measured fairly: pretrained vs. no-pretrain, per backbone and size.

    python -m bert_tf.benchmark --budget=quick     # about 20 minutes on 2 cores, one seed
    python -m bert_tf.benchmark --budget=full      # the committed figures' settings

For every backbone it pretrains one bundle (reused by all its fine-tuning runs). For every
labeled-set size and arm (`pretrained`: the bundle's weights; `scratch`: the same vocabulary,
architecture, epochs, batch size and schedule with fresh weights) it sweeps the learning rate,
picks the best on valid micro-F1, and runs the other seeds at that rate. TF-IDF + logistic
regression is the reference. Every run is the real script in a subprocess; a run whose
`metrics.json` exists is reused, so an interrupted benchmark continues where it stopped.
Writes `<out>.json` (run records), `<out>.md` and `<out>.png` (learning curves).
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np

from bert_tf.tfidf_baseline import run_tfidf_baseline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much compute a benchmark spends."""

    model_size: str
    pretrain_steps: int
    pretrain_learning_rate: float
    epochs: int
    learning_rates: tuple
    seeds: tuple
    train_files: tuple


BUDGETS = {
    "quick": Budget("tiny", 300, 1e-3, 3, (3e-4, 1e-3, 3e-3), (0,), ("train_small.txt",)),
    "full": Budget(
        "tiny", 3000, 1e-3, 10, (3e-4, 1e-3, 3e-3), (0, 1, 2), ("train_small.txt", "train.txt")
    ),
}


def _run(script, args, log_path):
    """Runs a script of this project; raises with the log's tail if it fails."""
    with open(log_path, "w", encoding="utf-8") as log:
        result = subprocess.run(
            [sys.executable, os.path.join(ROOT, script), *args], stdout=log, stderr=log, cwd=ROOT
        )
    if result.returncode:
        with open(log_path, encoding="utf-8") as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f"{script} failed (log {log_path}):\n{tail}")


def pretrain(backbone, budget, data_dir, work_dir, vocab_file):
    """The backbone's bundle, pretrained once (skipped when it is already complete)."""
    bundle = os.path.join(work_dir, f"bundle_{backbone}")
    if not os.path.isfile(os.path.join(bundle, "config.json")):
        args = [
            f"--corpus={os.path.join(data_dir, 'pretrain.txt')}",
            f"--output_dir={bundle}",
            f"--backbone={backbone}",
            f"--model_size={budget.model_size}",
            f"--num_train_steps={budget.pretrain_steps}",
            f"--learning_rate={budget.pretrain_learning_rate}",
        ]
        if vocab_file:
            args.append(f"--vocab_file={vocab_file}")
        print(f"pretraining {backbone} ({budget.pretrain_steps} steps)", flush=True)
        _run("train_bert_lm.py", args, bundle + ".log")
    return bundle


def finetune(bundle, arm, train_file, learning_rate, seed, budget, data_dir, work_dir):
    """One fine-tuning run's record (run, or read back if it already finished)."""
    name = (
        f"{os.path.basename(bundle)}_{train_file.split('.')[0]}_{arm}_lr{learning_rate:g}_s{seed}"
    )
    output = os.path.join(work_dir, name)
    metrics_path = os.path.join(output, "metrics.json")
    if not os.path.isfile(metrics_path):
        print(f"fine-tuning {name}", flush=True)
        _run(
            "train_bert_fine_tuning.py",
            [
                f"--init_checkpoint={bundle}",
                f"--load_weights={arm == 'pretrained'}",
                f"--train_file={os.path.join(data_dir, train_file)}",
                f"--valid_file={os.path.join(data_dir, 'valid.txt')}",
                f"--test_file={os.path.join(data_dir, 'test.txt')}",
                f"--output_dir={output}",
                f"--epochs={budget.epochs}",
                f"--learning_rate={learning_rate}",
                f"--seed={seed}",
            ],
            output + ".log",
        )
    with open(metrics_path, encoding="utf-8") as f:
        metrics = json.load(f)
    curve = [h["valid_micro_f1"] for h in metrics["history"]]
    return {
        "train_file": train_file,
        "arm": arm,
        "seed": seed,
        "learning_rate": learning_rate,
        "test_micro_f1": metrics["test"]["micro_f1"],
        "test_macro_f1": metrics["test"]["macro_f1"],
        "test_mean_f1": metrics["test"]["mean_f1"],
        "valid_micro_f1": metrics["valid"]["micro_f1"],
        "valid_curve": curve,
        "first_step_loss": metrics["first_step_loss"],
        "valid_loss_epoch1": metrics["history"][0]["valid_loss"],
        "wall_seconds": metrics["wall_seconds"],
        "run_dir": output,
    }


def run_benchmark(budget, data_dir, work_dir, backbone_names):
    """All runs of the benchmark; returns the list of run records."""
    os.makedirs(work_dir, exist_ok=True)
    records, vocab_file = [], None
    for backbone in backbone_names:
        bundle = pretrain(backbone, budget, data_dir, work_dir, vocab_file)
        vocab_file = vocab_file or os.path.join(bundle, "vocab.txt")
        for train_file in budget.train_files:
            for arm in ("pretrained", "scratch"):
                sweep = [
                    finetune(
                        bundle, arm, train_file, lr, budget.seeds[0], budget, data_dir, work_dir
                    )
                    for lr in budget.learning_rates
                ]
                best = max(sweep, key=lambda r: r["valid_micro_f1"])
                for record in sweep:
                    record.update(backbone=backbone, chosen=record is best, stage="sweep")
                records.extend(sweep)
                for seed in budget.seeds[1:]:
                    record = finetune(
                        bundle,
                        arm,
                        train_file,
                        best["learning_rate"],
                        seed,
                        budget,
                        data_dir,
                        work_dir,
                    )
                    record.update(backbone=backbone, chosen=True, stage="seed")
                    records.append(record)
    for train_file in budget.train_files:
        baseline = run_tfidf_baseline(
            os.path.join(data_dir, train_file),
            os.path.join(data_dir, "valid.txt"),
            os.path.join(data_dir, "test.txt"),
        )
        records.append(
            {
                "backbone": "none",
                "train_file": train_file,
                "arm": "tfidf_lr",
                "seed": 0,
                "learning_rate": baseline["c"],
                "chosen": True,
                "stage": "baseline",
                "test_micro_f1": baseline["test"]["micro_f1"],
                "test_macro_f1": baseline["test"]["macro_f1"],
                "test_mean_f1": baseline["test"]["mean_f1"],
                "valid_micro_f1": baseline["valid"]["micro_f1"],
                "valid_curve": [],
                "wall_seconds": baseline["wall_seconds"],
            }
        )
    return records


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
            "| backbone | arm | lr | seeds | valid F1 ep 1 | ep 5 | ep N | loss at start | "
            "valid loss ep 1 | test micro-F1 | test macro-F1 | test mean-F1 | minutes |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        groups = {}
        for r in chosen:
            if r["train_file"] == train_file:
                groups.setdefault((r["backbone"], r["arm"]), []).append(r)
        for (backbone, arm), runs in sorted(groups.items()):
            lines.append(
                f"| {backbone} | {arm} | {runs[0]['learning_rate']:g} | {len(runs)} | "
                f"{_curve_at(runs, 0)} | {_curve_at(runs, 4)} | {_curve_at(runs, -1)} | "
                f"{_mean_std([r.get('first_step_loss') for r in runs])} | "
                f"{_mean_std([r.get('valid_loss_epoch1') for r in runs])} | "
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
                lines.append(
                    f"- {backbone}: pretraining gains {gain:+.1f} points of test micro-F1 "
                    f"(twice the larger std: {spread:.1f} points)."
                )
        lines.append("")
    return "\n".join(lines)


def plot_curves(records, path):
    """Valid micro-F1 per epoch, both arms, one panel per backbone and size."""
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
    args = parser.parse_args()
    budget = BUDGETS[args.budget]
    records = run_benchmark(
        budget, args.data_dir, os.path.join(args.work_dir, args.budget), args.backbones.split(",")
    )
    with open(args.out + ".json", "w", encoding="utf-8") as f:
        json.dump(records, f, indent=2)
        f.write("\n")
    report = markdown_report(records, args.budget)
    with open(args.out + ".md", "w", encoding="utf-8") as f:
        f.write(f"# Pretrained vs. no-pretrain\n\nBudget settings: `{budget}`\n\n{report}\n")
    plot_curves(records, args.out + ".png")
    print(report)


if __name__ == "__main__":
    main()
