"""Corpora larger than memory: how preprocessing time, peak memory and training speed grow with
the corpus.

    python -m benchmarks.scaling --corpus=../shared/data/debian-tags/pretrain.txt \\
        --vocab_file=../vocab8k.txt --work_dir=/tmp/scaling --out=docs/benchmarks/scaling

For each scale (`--scales`, default 1, 4 and 16) it writes a corpus of that many copies of
`--corpus`, each copy's documents in another shuffled order, and measures, each in a process of
its own (so peak RSS is that step's alone, TensorFlow's import included): the preprocessing
(`corpus_shards.prepare_shards` with the given vocabulary: the checking scan and the
tokenization into shards, as `train_bert_lm.py` runs it) and then `--train_steps` steps of
`train_bert_lm.py --corpus=<those shards>`. Times are taken inside the processes (preprocessing
alone; the trainer's steps/s), not counting start-up. At 1x it also times today's in-memory
path (`read_corpus` + `tokenize_corpus`), and compares the two shard formats the issue names on
the 1x shards: TFRecord files (what `corpus_shards` writes) against tf.data's
`Dataset.save`/`load`. Writes `<out>.json`, `<out>.md` and `<out>.png`. `--smoke` trains a tiny
model, for a quick check.
"""

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile

from benchmarks.script_runs import ROOT

#: The issue's targets: preprocessing time linear in the corpus (here: seconds per MB at most
#: 15% higher at the largest scale than at the smallest), peak RSS +20% at most from the smallest
#: to the largest scale, training steps/s unchanged (here: within 10%).
TARGETS = {"time_linearity": 0.15, "rss_growth": 0.20, "steps_change": 0.10}
TINY_MODEL = ["--hidden_dim=16", "--num_layers=1", "--num_heads=2", "--intermediate_dim=32"]


def documents_of(path: str) -> list[str]:
    """The blank-line separated documents of a corpus file (one document a line if it has no
    blank line), each as its text without the separating blank lines."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    documents = [d.strip("\n") for d in text.split("\n\n") if d.strip()]
    return documents if len(documents) > 1 else [line for line in text.splitlines() if line]


def write_scaled_corpus(documents: list[str], scale: int, path: str, seed: int = 0) -> int:
    """Writes `scale` copies of `documents`, each copy in its own shuffled order, blank lines
    between documents; returns the file's size in bytes. An existing file is kept."""
    if not os.path.isfile(path):
        rng = random.Random(seed)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            for _ in range(scale):
                order = list(documents)
                rng.shuffle(order)
                f.write("\n\n".join(order) + "\n\n")
        os.replace(path + ".tmp", path)
    return os.path.getsize(path)


def measured(command: list[str], cwd: str = ROOT) -> dict:
    """Runs a command; its peak RSS (MB, from wait4), and what it printed last, as JSON."""
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(process.pid, 0)
    log.seek(0)
    output = log.read().decode("utf-8", "replace")
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-4000:]}")
    last = [line for line in output.splitlines() if line.startswith("{")]
    return dict(json.loads(last[-1]) if last else {}, peak_rss_mb=round(usage.ru_maxrss / 1024, 1))


# Each step times itself, so the process's start (importing TensorFlow) is not counted.
PREPROCESS = """
import json, sys, time
from bert_tf.corpus_files import corpus_paths
from bert_tf.corpus_shards import prepare_shards
from bert_tf.tokenization import Tokenizer, TokenizerConfig
corpus, vocabulary, directory, shard_tokens = sys.argv[1:]
tokenizer = Tokenizer.from_files(vocabulary, TokenizerConfig())
started = time.perf_counter()
shards = prepare_shards(directory, corpus_paths(corpus), tokenizer, int(shard_tokens))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": round(seconds, 2), "tokens": shards.manifest["num_tokens"],
                  "shards": len(shards)}))
"""

IN_MEMORY = """
import json, sys, time
from bert_tf.corpus import read_corpus
from bert_tf.pretraining_data import tokenize_corpus
from bert_tf.tokenization import Tokenizer, TokenizerConfig
tokenizer = Tokenizer.from_files(sys.argv[2], TokenizerConfig())
started = time.perf_counter()
tokens = len(tokenize_corpus(read_corpus(sys.argv[1]), tokenizer).token_ids)
print(json.dumps({"seconds": round(time.perf_counter() - started, 2), "tokens": tokens}))
"""

FORMATS = """
import json, os, sys, time
import tensorflow as tf
from bert_tf.corpus_shards import ShardedCorpus
shards = ShardedCorpus(sys.argv[1])
started = time.perf_counter()
arrays = [(s.token_ids, s.sentence_starts, s.document_ids) for s in shards]
tfrecord_read = time.perf_counter() - started
size = sum(os.path.getsize(os.path.join(sys.argv[1], s["file"])) for s in shards.manifest["shards"])
started = time.perf_counter()
for index, (tokens, starts, documents) in enumerate(arrays):
    element = {"token_ids": tokens, "sentence_starts": starts, "document_ids": documents}
    tf.data.Dataset.from_tensors(element).save(os.path.join(sys.argv[2], str(index)))
save_write = time.perf_counter() - started
started = time.perf_counter()
for index in range(len(arrays)):
    next(iter(tf.data.Dataset.load(os.path.join(sys.argv[2], str(index)))))
save_read = time.perf_counter() - started
save_size = sum(
    os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(sys.argv[2]) for f in files
)
print(json.dumps({"tfrecord": {"read_seconds": tfrecord_read, "megabytes": size / 2**20},
                  "dataset_save": {"write_seconds": save_write, "read_seconds": save_read,
                                   "megabytes": save_size / 2**20}}))
"""


def run_scale(scale, documents, args) -> dict:
    """Preprocesses and trains on the corpus of `scale` copies; the row of the report."""
    corpus = os.path.join(args.work_dir, f"corpus_{scale}x.txt")
    size = write_scaled_corpus(documents, scale, corpus)
    shards = os.path.join(args.work_dir, f"shards_{scale}x")
    output_dir = os.path.join(args.work_dir, f"run_{scale}x")
    for directory in (shards, output_dir):
        shutil.rmtree(directory, ignore_errors=True)
    print(f"{scale}x: {size / 2**20:.1f} MB, preprocessing", flush=True)
    preprocess = measured(
        [sys.executable, "-c", PREPROCESS, corpus, args.vocab_file, shards, str(args.shard_tokens)]
    )
    print(f"{scale}x: {preprocess}; training {args.train_steps} steps", flush=True)
    train = measured(
        [sys.executable, "train_bert_lm.py", f"--corpus={shards}", f"--output_dir={output_dir}"]
        + ["--tasks=masked_lm,next_sentence", f"--num_train_steps={args.train_steps}"]
        + ["--checkpoint_every=0", f"--log_every={args.train_steps}"]
        + (TINY_MODEL if args.smoke else [])
    )
    with open(os.path.join(output_dir, "config.json"), encoding="utf-8") as f:
        summary = json.load(f)["training_summary"]
    return {
        "scale": scale,
        "corpus_megabytes": round(size / 2**20, 1),
        "tokens": preprocess["tokens"],
        "shards": preprocess["shards"],
        "preprocess_seconds": preprocess["seconds"],
        "preprocess_peak_rss_mb": preprocess["peak_rss_mb"],
        "train_peak_rss_mb": train["peak_rss_mb"],
        "train_steps_per_second": summary["steps_per_second"],
    }


def growth(rows) -> dict:
    """How each figure grows from the smallest scale to the largest."""
    small, large = rows[0], rows[-1]
    per_megabyte = [row["preprocess_seconds"] / row["corpus_megabytes"] for row in rows]
    return {
        "size_ratio": round(large["corpus_megabytes"] / small["corpus_megabytes"], 2),
        "preprocess_time_ratio": round(
            large["preprocess_seconds"] / small["preprocess_seconds"], 2
        ),
        # At most linear: seconds per MB no higher at the largest scale than at the smallest
        # (fixed costs, such as tracing the tokenizer, make small corpora dearer per MB).
        "preprocess_seconds_per_mb": [round(x, 3) for x in per_megabyte],
        "time_linearity": round(per_megabyte[-1] / per_megabyte[0] - 1, 3),
        "preprocess_rss_growth": round(
            large["preprocess_peak_rss_mb"] / small["preprocess_peak_rss_mb"] - 1, 3
        ),
        "train_rss_growth": round(large["train_peak_rss_mb"] / small["train_peak_rss_mb"] - 1, 3),
        "steps_change": round(
            large["train_steps_per_second"] / small["train_steps_per_second"] - 1, 3
        ),
    }


def verdicts(grown) -> dict:
    rss = max(grown["preprocess_rss_growth"], grown["train_rss_growth"])
    return {
        "preprocessing time grows at most linearly": (
            grown["time_linearity"] <= TARGETS["time_linearity"]
        ),
        "peak RSS grows by less than 20%": rss < TARGETS["rss_growth"],
        "training steps/s unchanged": abs(grown["steps_change"]) <= TARGETS["steps_change"],
    }


def write_report(results, out) -> None:
    """`<out>.json`, `<out>.md` and `<out>.png`."""
    with open(out + ".json", "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    rows, grown = results["scales"], results["growth"]
    lines = [
        "# Corpora larger than memory: preprocessing, peak memory and training speed by size",
        "",
        f"`{results['command']}`",
        "",
        f"{results['date']}; {results['cpu_count']} CPUs; {results['platform']}.",
        "",
        "| scale | corpus MB | tokens | shards | preprocessing s | s per MB | preprocessing "
        "peak RSS MB | training peak RSS MB | training steps/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row, per_mb in zip(rows, grown["preprocess_seconds_per_mb"]):
        lines.append(
            f"| {row['scale']}x | {row['corpus_megabytes']} | {row['tokens']:,} | "
            f"{row['shards']} | {row['preprocess_seconds']} | {per_mb} | "
            f"{row['preprocess_peak_rss_mb']} | {row['train_peak_rss_mb']} | "
            f"{row['train_steps_per_second']} |"
        )
    memory = results["in_memory_1x"]
    lines += [
        "",
        f"From {rows[0]['scale']}x to {rows[-1]['scale']}x ({grown['size_ratio']}x the bytes): "
        f"preprocessing time x{grown['preprocess_time_ratio']} (seconds per MB "
        f"{grown['preprocess_seconds_per_mb'][0]} -> {grown['preprocess_seconds_per_mb'][-1]}), "
        f"peak RSS {grown['preprocess_rss_growth']:+.1%} preprocessing and "
        f"{grown['train_rss_growth']:+.1%} training, training steps/s "
        f"{grown['steps_change']:+.1%}.",
        "",
        "## Targets",
        "",
        *(
            f"- {name}: **{'met' if met else 'not met'}**"
            for name, met in results["verdicts"].items()
        ),
        "",
        "## Against today's in-memory path (1x)",
        "",
        f"`read_corpus` + `tokenize_corpus`: {memory['seconds']} s, peak RSS "
        f"{memory['peak_rss_mb']} MB; preprocessing into shards: "
        f"{rows[0]['preprocess_seconds']} s, {rows[0]['preprocess_peak_rss_mb']} MB (it reads "
        "the corpus twice: a checking scan, then the tokenization).",
        "",
        "## Shard format (1x shards)",
        "",
        "| format | MB | write s | read s |",
        "| --- | --- | --- | --- |",
        f"| TFRecord (used) | {results['formats']['tfrecord']['megabytes']:.1f} | (in "
        f"preprocessing) | {results['formats']['tfrecord']['read_seconds']:.2f} |",
        f"| tf.data save/load | {results['formats']['dataset_save']['megabytes']:.1f} | "
        f"{results['formats']['dataset_save']['write_seconds']:.2f} | "
        f"{results['formats']['dataset_save']['read_seconds']:.2f} |",
        "",
    ]
    with open(out + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    _plot(rows, out + ".png")


def _plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [row["corpus_megabytes"] for row in rows]
    panels = [
        ("preprocess_seconds", "preprocessing (s)"),
        ("preprocess_peak_rss_mb", "preprocessing peak RSS (MB)"),
        ("train_peak_rss_mb", "training peak RSS (MB)"),
        ("train_steps_per_second", "training steps/s"),
    ]
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4))
    for axis, (key, title) in zip(axes, panels):
        axis.plot(sizes, [row[key] for row in rows], "o-")
        if key == "preprocess_seconds":  # the linear growth the target asks for
            axis.plot(sizes, [rows[0][key] * s / sizes[0] for s in sizes], "--", color="gray")
        axis.set_title(title)
        axis.set_xlabel("corpus (MB)")
        axis.set_ylim(bottom=0)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True, help="the 1x corpus (e.g. pretrain.txt)")
    parser.add_argument("--vocab_file", required=True, help="the vocabulary of every run")
    parser.add_argument("--work_dir", default=os.path.join(tempfile.gettempdir(), "scaling"))
    parser.add_argument("--out", default="docs/benchmarks/scaling")
    parser.add_argument("--scales", default="1,4,16")
    parser.add_argument("--train_steps", type=int, default=300)
    parser.add_argument("--shard_tokens", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help="a tiny model, for a quick check")
    args = parser.parse_args(argv)
    args.vocab_file = os.path.abspath(args.vocab_file)
    args.work_dir = os.path.abspath(args.work_dir)
    os.makedirs(args.work_dir, exist_ok=True)
    documents = documents_of(args.corpus)
    rows = [run_scale(int(s), documents, args) for s in args.scales.split(",")]
    corpus_1x = os.path.join(args.work_dir, f"corpus_{rows[0]['scale']}x.txt")
    in_memory = measured([sys.executable, "-c", IN_MEMORY, corpus_1x, args.vocab_file])
    saved = os.path.join(args.work_dir, "dataset_save")
    shutil.rmtree(saved, ignore_errors=True)
    shards_1x = os.path.join(args.work_dir, f"shards_{rows[0]['scale']}x")
    formats = subprocess.run(
        [sys.executable, "-c", FORMATS, shards_1x, saved],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    grown = growth(rows)
    results = {
        "command": "python -m benchmarks.scaling " + " ".join(argv or sys.argv[1:]),
        "date": datetime.date.today().isoformat(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "scales": rows,
        "in_memory_1x": in_memory,
        "formats": json.loads(formats.stdout.strip().splitlines()[-1]),
        "growth": grown,
        "targets": TARGETS,
        "verdicts": verdicts(grown),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_report(results, args.out)
    print(json.dumps(results["verdicts"]))


if __name__ == "__main__":
    main()
