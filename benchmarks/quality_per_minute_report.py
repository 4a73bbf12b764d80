"""The quality-per-minute report: a table per recipe, the minutes each needs to beat TF-IDF,
and a plot of test micro- and macro-F1 against pretraining CPU-minutes."""

import dataclasses
import datetime
import json
import os
import statistics

METRICS = ("test_micro_f1", "test_macro_f1")


def points(records):
    """One row per (recipe, budget): CPU-minutes, steps, and the mean and std over seeds of the
    runs at the learning rate chosen on valid; the scratch point has 0 minutes."""
    groups = {}
    for record in records:
        if record.get("chosen"):
            groups.setdefault((record["recipe"], record["budget_minutes"]), []).append(record)
    rows = []
    for (recipe, budget_minutes), runs in sorted(groups.items()):
        row = dict(
            recipe=recipe,
            budget_minutes=budget_minutes,
            cpu_minutes=round(runs[0]["cpu_minutes"], 2),
            pretrain_steps=runs[0]["pretrain_steps"],
            learning_rate=runs[0]["learning_rate"],
            seeds=len(runs),
        )
        for key in ("valid_micro_f1", "valid_macro_f1", *METRICS):
            values = [run[key] for run in runs]
            row[key] = statistics.mean(values)
            row[key + "_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def curves(rows):
    """Each recipe's rows by CPU-minutes, starting from the scratch point."""
    scratch = [row for row in rows if row["recipe"] == "scratch"]
    by_recipe = {}
    for row in rows:
        if row["recipe"] != "scratch":
            by_recipe.setdefault(row["recipe"], list(scratch)).append(row)
    return {name: sorted(rs, key=lambda r: r["cpu_minutes"]) for name, rs in by_recipe.items()}


def minutes_to_beat(curve, key, target):
    """The CPU-minutes where the curve first rises above `target`, interpolated linearly
    between the two points around the crossing; None if it never does."""
    for before, after in zip(curve, curve[1:]):
        if before[key] <= target < after[key]:
            share = (target - before[key]) / (after[key] - before[key])
            return before["cpu_minutes"] + share * (after["cpu_minutes"] - before["cpu_minutes"])
    if curve and curve[0][key] > target:
        return curve[0]["cpu_minutes"]
    return None


def earlier_curves(paths, recipes):
    """The pretrained curves of earlier reports (`<out>.json`), to draw beside this run's:
    their runs, calibrations and recipes, each recipe renamed `<recipe> (<report file>)`. Their
    scratch points are left out: every curve starts from this run's.

    Raises:
        ValueError: a report names a recipe `recipes` does not know.
    """
    runs, calibrations, described = [], {}, {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
        source = os.path.basename(path)
        for name, calibration in report["calibrations"].items():
            if name not in recipes:
                raise ValueError(f"{path}: recipe {name!r} is not among {sorted(recipes)}")
            label = f"{name} ({source})"
            calibrations[label] = tuple(calibration)
            described[label] = dataclasses.replace(
                recipes[name],
                description=f"{recipes[name].description}; the runs of `{report['command']}`",
            )
        runs += [
            {**run, "recipe": f"{run['recipe']} ({source})"}
            for run in report["runs"]
            if run["recipe"] != "scratch"
        ]
    return runs, calibrations, described


def markdown(rows, tfidf, calibrations, recipes, train_file, command, finetuning):
    lines = [
        f"# Quality per CPU-minute ({train_file})",
        "",
        f"`{command}`, {datetime.date.today().isoformat()}.",
        "",
        "Tiny Transformer, one thread per pretraining run; x is the CPU time the pretraining "
        f"process used. Fine-tuning, dropout 0.1, {finetuning}; seeds and learning rate as "
        "the command's `--seeds` and `--finetune_learning_rate` say: without a rate, the rate "
        "is chosen on valid from 3e-4, 1e-3, 3e-3 (widened while the best is at an edge) with "
        "the first seed, and the other seeds run at it; the scratch point always chooses so. "
        "Figures are mean ± std over the seeds (± 0 with one seed).",
        "",
        f"TF-IDF + LR: test micro-F1 {tfidf['test_micro_f1']:.4f}, "
        f"macro-F1 {tfidf['test_macro_f1']:.4f}.",
        "",
        "| recipe | what | steps/s (1 thread) | fixed CPU s |",
        "| --- | --- | --- | --- |",
    ]
    for name, (rate, fixed) in sorted(calibrations.items()):
        lines.append(f"| {name} | {recipes[name].description} | {rate:.2f} | {fixed:.0f} |")
    lines += [
        "",
        "| recipe | budget min | CPU min | steps | lr | valid micro | valid macro | "
        "test micro | test macro |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        figures = " | ".join(
            f"{row[key]:.4f} ± {row[key + '_std']:.4f}"
            for key in ("valid_micro_f1", "valid_macro_f1", *METRICS)
        )
        lines.append(
            f"| {row['recipe']} | {row['budget_minutes']:g} | {row['cpu_minutes']:.1f} | "
            f"{row['pretrain_steps']} | {row['learning_rate']:g} | {figures} |"
        )
    lines += ["", "| recipe | CPU-minutes to beat TF-IDF micro-F1 | ... macro-F1 |"]
    lines.append("| --- | --- | --- |")
    for name, curve in curves(rows).items():
        found = [minutes_to_beat(curve, key, tfidf[key]) for key in METRICS]
        lines.append(
            f"| {name} | "
            + " | ".join("not within the curve" if m is None else f"{m:.1f}" for m in found)
            + " |"
        )
    return "\n".join(lines) + "\n"


def plot(rows, tfidf, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, key in zip(axes, METRICS):
        for name, curve in curves(rows).items():
            axis.errorbar(
                [r["cpu_minutes"] for r in curve],
                [r[key] for r in curve],
                yerr=[r[key + "_std"] for r in curve],
                marker="o",
                capsize=3,
                label=name,
            )
        axis.axhline(tfidf[key], color="grey", linestyle="--", label="TF-IDF + LR")
        axis.set_xlabel("pretraining CPU-minutes (one thread)")
        axis.set_ylabel(key.replace("_", " "))
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_outputs(records, tfidf, calibrations, recipes, train_file, command, out, finetuning):
    """Writes `<out>.json`, `<out>.md` and `<out>.png`; returns the markdown. `finetuning`
    says how the points were fine-tuned."""
    rows = points(records)
    text = markdown(rows, tfidf, calibrations, recipes, train_file, command, finetuning)
    with open(out + ".json", "w", encoding="utf-8") as f:
        json.dump(
            dict(
                command=command,
                train_file=train_file,
                tfidf=tfidf,
                calibrations={k: list(v) for k, v in calibrations.items()},
                points=rows,
                runs=records,
            ),
            f,
            indent=2,
        )
    with open(out + ".md", "w", encoding="utf-8") as f:
        f.write(text)
    if rows:
        plot(rows, tfidf, out + ".png")
    return text
