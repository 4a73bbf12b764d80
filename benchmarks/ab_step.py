"""A/B timing of a masked-LM pretraining step: two checkouts, or two dtype policies, alternating.

    python -m benchmarks.ab_step OLD_CHECKOUT NEW_CHECKOUT --out=docs/benchmarks/ab_NAME
    python -m benchmarks.ab_step . . --policies=float32,mixed_bfloat16 --out=...
    python -m benchmarks.ab_step . . --jit_compile=0,1 --out=...

Each measurement is a fresh worker process run in its side's checkout (its cwd and the head
of its sys.path, so that checkout's `backbones/` and `benchmarks/` are imported, not the
installed ones), under its side's Keras dtype policy and XLA setting, with TensorFlow and
OpenMP capped at `--threads`. The worker builds and trains the model as
`benchmarks/throughput.py` does for its full-length figures: random token ids in full batches
(`batch_size` x `length`, no padding; the ids' values do not change the cost), the project's
`PretrainingModel` with the masked-LM task, optimizer and training step; steps/s over the timed
steps after the warm-up. In every round each size runs A then B, so that drift in the machine
hits both sides. It prints each measurement, then per size the median steps/s of each side and
B / A, and writes `<out>.json` and `<out>.md`. Run it on an otherwise idle machine.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np

DTYPE_POLICIES = ("float32", "mixed_bfloat16")


def thread_env(threads):
    """The environment capping a worker's thread pools."""
    count = str(threads)
    return dict(
        OMP_NUM_THREADS=count,
        TF_NUM_INTRAOP_THREADS=count,
        TF_NUM_INTEROP_THREADS=count,
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONDONTWRITEBYTECODE="1",  # leave the checkouts as they are
    )


def worker(args):
    """One measurement in the current directory's checkout; prints one JSON line."""
    checkout = os.getcwd()
    sys.path.insert(0, checkout)
    import keras

    import backbones
    import pretrain_tasks
    from benchmarks.throughput import Plan, full_length_dataset, model_config, project_training
    from bert_tf.tokenization import SPECIAL_TOKENS

    source = os.path.realpath(backbones.__file__)
    if not source.startswith(os.path.realpath(checkout) + os.sep):
        raise SystemExit(f"backbones imported from {source}, not from {checkout}")
    keras.config.set_dtype_policy(args.policy)
    plan = Plan(batch_size=args.batch_size, length=args.length)
    tasks = pretrain_tasks.build_tasks(["masked_lm"], args.vocabulary_size, args.length)
    ids = np.random.default_rng(0).integers(
        len(SPECIAL_TOKENS), args.vocabulary_size, 4 * args.batch_size * args.length
    )
    dataset = full_length_dataset(ids, tasks, args.batch_size, args.length)
    config = model_config("transformer", args.vocabulary_size, args.size, plan)
    xla = {"jit_compile": True} if args.jit else {}  # an older checkout may not take it
    rate, timed = project_training(
        "transformer", config, tasks, dataset, args.warmup, args.steps, **xla
    )
    record = dict(steps_per_second=rate, timed_steps=timed, config=config)
    print("RESULT " + json.dumps(record), flush=True)


def measure(side, size, args):
    """Runs a worker for `side` (checkout, policy, jit) at `size`; its record."""
    checkout, policy, jit = side
    # This file, not the checkout's copy: an older checkout may not have one.
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--size", size]
    command += ["--policy", policy] + (["--jit"] if jit else [])
    for flag in ("warmup", "steps", "batch_size", "length", "vocabulary_size"):
        command += [f"--{flag}", str(getattr(args, flag))]
    env = {**os.environ, **thread_env(args.threads), "PYTHONPATH": checkout}
    done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(
            f"worker in {checkout} ({size}, {policy}, jit {jit}) failed:\n{done.stderr[-4000:]}"
        )
    return json.loads(lines[-1][len("RESULT ") :])


def revision(checkout):
    """The checkout's commit, marked when its tracked files differ from it."""
    git = ["git", "-C", checkout]
    head = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode:
        return "not a git checkout"
    dirty = subprocess.run(
        git + ["status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    )
    return head.stdout.strip() + (" (modified)" if dirty.stdout.strip() else "")


def summarize(records, sizes):
    """Per size: each side's median steps/s, B / A, and in how many rounds B was faster."""
    summary = {}
    for size in sizes:
        rates = {
            side: [
                r["steps_per_second"] for r in records if r["side"] == side and r["size"] == size
            ]
            for side in "AB"
        }
        median = {side: statistics.median(values) for side, values in rates.items()}
        summary[size] = dict(
            median_steps_per_second=median,
            ratio_b_over_a=median["B"] / median["A"],
            rounds_b_faster=sum(b > a for a, b in zip(rates["A"], rates["B"])),
            rounds=len(rates["A"]),
        )
    return summary


def markdown(result, command):
    """The report: the sides, every round, and the medians."""
    settings = result["settings"]
    lines = [
        "# A/B timing of a masked-LM training step",
        "",
        f"`{command}`",
        "",
        f"Batch {settings['batch_size']} x length {settings['length']} (full-length batches), "
        f"{settings['warmup']} warm-up + {settings['steps']} timed steps, "
        f"{settings['threads']} thread(s) per worker, {settings['rounds']} rounds, A then B "
        "in each.",
        "",
    ]
    for name, side in result["sides"].items():
        xla = ", XLA" if side["jit_compile"] else ""
        lines.append(f"- {name}: `{side['checkout']}` at {side['revision']}, {side['policy']}{xla}")
    lines += [
        "",
        "| size | round | A steps/s | B steps/s | B / A |",
        "| --- | --- | --- | --- | --- |",
    ]
    records = result["records"]
    for size, round_ in dict.fromkeys((r["size"], r["round"]) for r in records):
        a, b = (
            next(r for r in records if (r["size"], r["round"], r["side"]) == (size, round_, s))
            for s in "AB"
        )
        rate_a, rate_b = a["steps_per_second"], b["steps_per_second"]
        lines.append(f"| {size} | {round_} | {rate_a:.3f} | {rate_b:.3f} | {rate_b / rate_a:.3f} |")
    lines += ["", "| size | median A | median B | B / A | rounds B faster |", "| --- " * 5 + "|"]
    for size, row in result["summary"].items():
        median = row["median_steps_per_second"]
        lines.append(
            f"| {size} | {median['A']:.3f} | {median['B']:.3f} | {row['ratio_b_over_a']:.3f} | "
            f"{row['rounds_b_faster']} of {row['rounds']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add(
        "checkouts",
        nargs="*",
        help="A_CHECKOUT B_CHECKOUT (the same one twice to compare policies).",
    )
    add(
        "--policies",
        default="float32,float32",
        help=f"A's and B's Keras dtype policies, comma-separated, each one of {DTYPE_POLICIES}.",
    )
    add(
        "--jit_compile",
        default="0,0",
        help="A's and B's XLA compilation of the step (0 or 1), comma-separated.",
    )
    add("--rounds", type=int, default=3, help="Measurements of each side per size.")
    add("--warmup", type=int, default=10, help="Untimed steps first.")
    add("--steps", type=int, default=30, help="Timed steps.")
    add("--sizes", default="tiny,mini", help="Transformer presets, comma-separated.")
    add("--threads", type=int, default=1, help="TensorFlow and OpenMP threads per worker.")
    add("--batch_size", type=int, default=32)
    add("--length", type=int, default=128)
    add("--vocabulary_size", type=int, default=8000, help="As benchmarks/throughput.py's.")
    add("--out", help="Path prefix of the <out>.json and <out>.md written.")
    add("--worker", action="store_true", help=argparse.SUPPRESS)
    add("--size", help=argparse.SUPPRESS)
    add("--policy", default="float32", help=argparse.SUPPRESS)
    add("--jit", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    policies, jits = args.policies.split(","), args.jit_compile.split(",")
    if len(args.checkouts) != 2 or len(policies) != 2:
        parser.error("give two checkouts and two --policies")
    if len(jits) != 2 or not set(jits) <= {"0", "1"}:
        parser.error(f"--jit_compile={args.jit_compile}: expected two of 0 and 1, e.g. 0,1")
    unknown = [p for p in policies if p not in DTYPE_POLICIES]
    if unknown:
        parser.error(f"--policies: unknown {unknown}; expected {DTYPE_POLICIES}")
    sides = {
        name: (os.path.abspath(checkout), policy, jit == "1")
        for name, checkout, policy, jit in zip("AB", args.checkouts, policies, jits)
    }
    sizes = args.sizes.split(",")
    records = []
    for round_ in range(1, args.rounds + 1):
        for size in sizes:
            for name, side in sides.items():
                record = dict(measure(side, size, args), side=name, size=size, round=round_)
                records.append(record)
                print(
                    f"round {round_} {size:5s} {name}: {record['steps_per_second']:.3f} steps/s",
                    flush=True,
                )
    result = dict(
        sides={
            name: dict(
                checkout=checkout, revision=revision(checkout), policy=policy, jit_compile=jit
            )
            for name, (checkout, policy, jit) in sides.items()
        },
        settings={
            k: v for k, v in vars(args).items() if k not in ("worker", "size", "policy", "jit")
        },
        records=records,
        summary=summarize(records, sizes),
    )
    command = " ".join(["python -m benchmarks.ab_step", *(sys.argv[1:] if argv is None else argv)])
    report = markdown(result, command)
    print(report)
    if args.out:
        with open(args.out + ".json", "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        with open(args.out + ".md", "w", encoding="utf-8") as f:
            f.write(report)


if __name__ == "__main__":
    main()
