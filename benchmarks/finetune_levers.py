"""Fine-tuning levers for rare labels, screened on one bundle: each lever's valid and test
micro- and macro-F1 beside the current recipe's, pretrained and scratch alike.

    python -m benchmarks.finetune_levers --data_dir=../shared/data/debian-tags \\
        --bundle=runs/pretrain --levers=base,epochs20,class_balanced,focal,mean_max \\
        --work_dir=runs/levers --out=docs/benchmarks/finetune_levers

Every lever is a set of `train_bert_fine_tuning.py` flags added to the same run (same bundle,
learning rate, seeds and epochs unless the lever says otherwise), so the only difference
between two rows is the lever. Choose between levers on valid; test is reported beside it to
show whether the choice holds. Finished runs are reused, so a rerun continues.
"""

import argparse
import concurrent.futures
import json
import os
import statistics

from benchmarks import pretrain_vs_scratch as pvs
from bert_tf.bundle import read_bundle_config

#: The base recipe's flags beside its 10 epochs (the fine-tuning defaults before this
#: benchmark): dropout 0.1, the best epoch by valid micro-F1; with the backbone's pooling,
#: sigmoid loss and one global threshold. A lever's flags come after them and win.
BASE_FLAGS = ("--dropout=0.1", "--select_epoch_on=micro_f1")
#: Each lever's flags on top of the base recipe.
LEVERS = {
    "base": (),
    "epochs20": ("--epochs=20",),
    "mean_f1": ("--select_epoch_on=mean_f1",),
    "epochs20_mean_f1": ("--epochs=20", "--select_epoch_on=mean_f1"),
    "class_balanced": ("--loss=class_balanced",),
    "class_balanced_sqrt": ("--loss=class_balanced_sqrt",),
    "focal": ("--loss=focal",),
    "mean_max": ("--pooling=mean_max",),
    "per_label_k30": ("--per_label_thresholds", "--threshold_shrinkage=30"),
    "epochs20_class_balanced": ("--epochs=20", "--loss=class_balanced"),
    # Layer-wise learning-rate decay on the scripts' default recipe (20 epochs, mean-F1).
    "epochs20_mean_f1_decay0.8": ("--epochs=20", "--select_epoch_on=mean_f1", "--layer_decay=0.8"),
    "epochs20_mean_f1_decay0.6": ("--epochs=20", "--select_epoch_on=mean_f1", "--layer_decay=0.6"),
}
BASE_EPOCHS = 10
METRICS = ("valid_micro_f1", "valid_macro_f1", "test_micro_f1", "test_macro_f1")


def lever_runs(lever, arm, bundle, plan, train_file, learning_rate, seeds):
    """The fine-tuning runs of one lever and arm, one per seed (reused when finished)."""
    budget = pvs.Budget(
        "tiny",
        0,
        0.0,
        {train_file: BASE_EPOCHS},
        (learning_rate,),
        seeds,
        finetune_flags=(*BASE_FLAGS, *LEVERS[lever]),
    )
    directory = os.path.join(plan.work_dir, lever)
    os.makedirs(directory, exist_ok=True)
    lever_plan = pvs.Plan(budget, plan.data_dir, directory, plan.jobs, plan.slots)
    backbone = read_bundle_config(bundle)["backbone"]["name"]
    return [
        dict(
            pvs.finetune(bundle, backbone, arm, train_file, learning_rate, seed, lever_plan),
            lever=lever,
        )
        for seed in seeds
    ]


def summarize(rows):
    """Mean and population std of each metric over a lever's seeds."""
    summary = {"lever": rows[0]["lever"], "arm": rows[0]["arm"], "seeds": len(rows)}
    for metric in METRICS:
        values = [row[metric] for row in rows]
        summary[metric] = statistics.fmean(values)
        summary[metric + "_std"] = statistics.pstdev(values)
    return summary


def markdown(summaries, tfidf, command):
    lines = [
        "# Fine-tuning levers for rare labels",
        "",
        f"Command: `{command}`",
        "",
        "Each lever adds its flags to the same fine-tuning run (bundle, learning rate, seeds; "
        f"{BASE_EPOCHS} epochs, `{' '.join(BASE_FLAGS)}`; a lever's flags come after these and "
        "win). Choose on valid; test shows whether the choice holds.",
        "",
        "| lever | arm | seeds | valid micro | valid macro | test micro | test macro |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summaries:
        cells = [f"{s[m]:.3f} ± {s[m + '_std']:.3f}" for m in METRICS]
        lines.append(f"| {s['lever']} | {s['arm']} | {s['seeds']} | " + " | ".join(cells) + " |")
    if tfidf:
        lines.append(
            f"| TF-IDF + LR | — | — | {tfidf['valid_micro_f1']:.3f} | — | "
            f"{tfidf['test_micro_f1']:.3f} | {tfidf['test_macro_f1']:.3f} |"
        )
    lines += ["", "Flags of each lever:", ""]
    shown = dict.fromkeys(s["lever"] for s in summaries)
    lines += [f"- `{name}`: `{' '.join(LEVERS[name]) or '(none)'}`" for name in shown]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--bundle", required=True, help="A bundle from train_bert_lm.py.")
    parser.add_argument("--train_file", default="train_small.txt")
    parser.add_argument("--levers", default=",".join(LEVERS), help=f"Of {', '.join(LEVERS)}.")
    parser.add_argument("--arms", default="pretrained", help="pretrained and/or scratch.")
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--jobs", type=int, default=2, help="Runs at once, one thread each.")
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--out", required=True, help="Writes <out>.json and <out>.md.")
    args = parser.parse_args()
    levers = args.levers.split(",")
    unknown = sorted(set(levers) - set(LEVERS))
    if unknown:
        parser.error(f"unknown levers {unknown}; expected some of {list(LEVERS)}")
    seeds = tuple(int(s) for s in args.seeds.split(","))
    plan = pvs.Plan(
        pvs.Budget("tiny", 0, 0.0, {args.train_file: BASE_EPOCHS}, (), seeds),
        args.data_dir,
        args.work_dir,
        args.jobs,
    )
    jobs = [(lever, arm) for lever in levers for arm in args.arms.split(",")]
    with concurrent.futures.ThreadPoolExecutor(len(jobs) + 1) as pool:
        tfidf_future = pool.submit(pvs.tfidf_record, args.train_file, plan)
        results = list(
            pool.map(
                lambda job: lever_runs(
                    *job, args.bundle, plan, args.train_file, args.learning_rate, seeds
                ),
                jobs,
            )
        )
        tfidf = tfidf_future.result()
    summaries = [summarize(rows) for rows in results]
    command = "python -m benchmarks.finetune_levers " + " ".join(
        f"--{k}={v}" for k, v in vars(args).items()
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".json", "w", encoding="utf-8") as f:
        json.dump(
            {"command": command, "summaries": summaries, "tfidf": tfidf, "runs": results},
            f,
            indent=2,
        )
    with open(args.out + ".md", "w", encoding="utf-8") as f:
        f.write(markdown(summaries, tfidf, command))
    print(markdown(summaries, tfidf, command))


if __name__ == "__main__":
    main()
