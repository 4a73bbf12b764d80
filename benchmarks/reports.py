"""Benchmark reports from run outputs: markdown tables and a JSON of the figures.

    python -m benchmarks.reports pretrain --out=docs/benchmarks/pretrain runs/a runs/b
    python -m benchmarks.reports finetune --out=docs/benchmarks/finetune runs/ft_*

Every figure comes from the runs' own `config.json` (a bundle's training summary) or
`metrics.json`; nothing is typed in by hand.
"""

import argparse
import json
import os


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def pretrain_rows(bundle_dirs):
    """One row per bundle and task: start/end loss and accuracy, speed."""
    rows = []
    for directory in bundle_dirs:
        config = _read_json(os.path.join(directory, "config.json"))
        summary = config["training_summary"]
        backbone = config["backbone"]
        for task, figures in summary["tasks"].items():
            rows.append(
                dict(
                    bundle=directory,
                    backbone=backbone["name"],
                    hidden_dim=backbone["config"]["hidden_dim"],
                    num_layers=backbone["config"]["num_layers"],
                    vocabulary_size=config["tokenizer"]["vocabulary_size"],
                    task=task,
                    steps=summary["steps"],
                    epochs=summary["epochs"],
                    batch_size=summary["batch_size"],
                    steps_per_second=summary["steps_per_second"],
                    padded_tokens_per_second=summary["padded_tokens_per_second"],
                    **figures,
                )
            )
    return rows


def pretrain_markdown(rows):
    lines = [
        "| backbone | layers × hidden | task | steps (epochs) | start loss | end loss | "
        "start acc | end acc | steps/s | padded tokens/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['backbone']} | {r['num_layers']} × {r['hidden_dim']} | {r['task']} | "
            f"{r['steps']} ({r['epochs']}) | {r['start_loss']:.3f} | {r['end_loss']:.3f} | "
            f"{r['start_accuracy']:.3f} | {r['end_accuracy']:.3f} | "
            f"{r['steps_per_second']:.2f} | {r['padded_tokens_per_second']:.0f} |"
        )
    return "\n".join(lines)


def finetune_row(directory):
    """A fine-tuning run's figures, from its `metrics.json`: arm, epoch-1 figures, the valid
    curve (micro-F1, or accuracy for a single-label run), the final valid and test scores,
    time."""
    metrics = _read_json(os.path.join(directory, "metrics.json"))
    config = metrics["config"]
    first = metrics["history"][0]
    bundle = config["init_checkpoint"]
    backbone = (
        _read_json(os.path.join(bundle, "config.json"))["backbone"]["name"]
        if bundle
        else config["backbone"]
    )
    row = dict(
        run=directory,
        bundle=bundle,
        backbone=backbone,
        arm=metrics["arm"],
        train_file=os.path.basename(config["train_file"]),
        learning_rate=config["learning_rate"],
        epochs=len(metrics["history"]),
        seed=config["seed"],
        pooling=config.get("pooling"),
        first_step_loss=metrics["first_step_loss"],
        epoch1_train_loss=first["train_loss"],
        epoch1_valid_loss=first["valid_loss"],
        best_epoch=metrics.get("best_epoch"),
        test_macro_f1=metrics["test"]["macro_f1"],
        wall_seconds=metrics["wall_seconds"],
    )
    if config.get("problem_type") == "single_label":
        return dict(
            row,
            problem_type="single_label",
            epoch1_valid_accuracy=first["valid_accuracy"],
            valid_curve=[h["valid_accuracy"] for h in metrics["history"]],
            valid_accuracy=metrics["valid"]["accuracy"],
            valid_macro_f1=metrics["valid"]["macro_f1"],
            test_accuracy=metrics["test"]["accuracy"],
        )
    return dict(
        row,
        epoch1_valid_micro_f1=first["valid_micro_f1"],
        valid_curve=[h["valid_micro_f1"] for h in metrics["history"]],
        valid_micro_f1=metrics["valid"]["micro_f1"],
        valid_macro_f1=metrics["valid"]["macro_f1"],
        valid_mean_f1=metrics["valid"]["mean_f1"],
        test_micro_f1=metrics["test"]["micro_f1"],
        test_mean_f1=metrics["test"]["mean_f1"],
        test_precision=metrics["test"]["precision"],
        test_recall=metrics["test"]["recall"],
        threshold=metrics["test"]["threshold"],
    )


def finetune_markdown(rows):
    lines = [
        "| backbone | arm | lr | epochs | first-step loss | epoch-1 train loss | "
        "epoch-1 valid loss | epoch-1 valid micro-F1 | test micro-F1 | test macro-F1 | "
        "test mean | minutes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['backbone']} | {r['arm']} | {r['learning_rate']:g} | {r['epochs']} | "
            f"{r['first_step_loss']:.4f} | {r['epoch1_train_loss']:.4f} | "
            f"{r['epoch1_valid_loss']:.4f} | {r['epoch1_valid_micro_f1']:.4f} | "
            f"{r['test_micro_f1']:.4f} | {r['test_macro_f1']:.4f} | {r['test_mean_f1']:.4f} | "
            f"{r['wall_seconds'] / 60:.1f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["pretrain", "finetune"])
    parser.add_argument("runs", nargs="+", help="bundle or fine-tuning output directories")
    parser.add_argument("--out", required=True, help="path prefix: writes <out>.json")
    args = parser.parse_args()
    rows = (
        pretrain_rows(args.runs)
        if args.kind == "pretrain"
        else [finetune_row(run) for run in args.runs]
    )
    table = pretrain_markdown(rows) if args.kind == "pretrain" else finetune_markdown(rows)
    with open(args.out + ".json", "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=2)
        f.write("\n")
    print(table)


if __name__ == "__main__":
    main()
