"""The benchmark's report: tables of mean ± std over seeds, the targets, learning curves."""

import json

import numpy as np

#: The issue's bar: the pretrained arm's test micro-F1 gain over the tuned scratch arm...
GAIN_TARGET_POINTS = 5.0
#: ...on the low-resource labeled set; larger sets report their gain without a target.
GAIN_TARGET_TRAIN_FILE = "train_small.txt"


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


def markdown_report(records):
    """Tables per backbone and size (chosen runs, mean ± std over seeds) and the gain."""
    lines = ["Mean ± std over seeds at each arm's chosen learning rate.", ""]
    chosen = [r for r in records if r["chosen"]]
    # Sections in the order the benchmark ran them: smallest labeled set first.
    for train_file in dict.fromkeys(r["train_file"] for r in chosen):
        lines += [
            f"### {train_file}",
            "",
            "| backbone | arm | pooling | lr | seeds | valid F1 ep 1 | ep 5 | ep N | best ep | "
            "loss at start | valid loss ep 1 | test micro-F1 | test macro-F1 | test mean-F1 | "
            "minutes |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
            "| --- |",
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
                f"| {backbone} | {arm} | {runs[0].get('pooling') or '–'} | {setting} | "
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
                target = ""
                if train_file == GAIN_TARGET_TRAIN_FILE:
                    met = gain >= GAIN_TARGET_POINTS and gain > spread
                    target = (
                        f"; target of at least {GAIN_TARGET_POINTS} points and more than "
                        f"twice the std {'met' if met else 'not met'}"
                    )
                lines.append(
                    f"- {backbone}: pretraining gains {gain:+.1f} points of test micro-F1 "
                    f"(twice the larger std: {spread:.1f} points{target})."
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


def unfinished_groups(records, budget, backbone_names):
    """The (backbone, train file) groups of the budget with no finished arm in `records`."""
    finished = {(r["backbone"], r["train_file"]) for r in records if r["arm"] == "scratch"}
    return [
        (backbone, train_file)
        for train_file in budget.train_files
        for backbone in backbone_names
        if (backbone, train_file) not in finished
    ]


def write_outputs(records, budget, backbone_names, command, out):
    """Writes `<out>.json`, `.md` and `.png` from the records so far; returns the report.

    `command` is the command line that produced them, quoted in the markdown."""
    with open(out + ".json", "w", encoding="utf-8") as f:
        json.dump(records, f, indent=2)
        f.write("\n")
    report = markdown_report(records)
    missing = unfinished_groups(records, budget, backbone_names)
    if missing:
        report += (
            "\nNot run yet: "
            + ", ".join(f"{backbone} on {train_file}" for backbone, train_file in missing)
            + ". Rerunning the command continues from the finished runs.\n"
        )
    with open(out + ".md", "w", encoding="utf-8") as f:
        f.write(
            "# Pretrained vs. no-pretrain\n\n"
            f"Command: `{command}`. "
            f"Budget settings: `{budget}`\n\n{HOW_TO_READ}\n{report}\n"
        )
    if any(r["valid_curve"] for r in records):
        plot_curves(records, out + ".png")
    return report
