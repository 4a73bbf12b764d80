"""What starting from a published checkpoint is worth: continued pretraining of an imported
keras-hub preset against pretraining from scratch, for the same CPU minutes on the domain.

    python -m benchmarks.continued_pretraining --data_dir=../shared/data/debian-tags \\
        --out=docs/benchmarks/continued_pretraining                  # about 1.5 hours, 2 cores
    python -m benchmarks.continued_pretraining --data_dir=DIR --work_dir=/tmp/cp_smoke \\
        --preset_steps=20 --domain_steps=20 --epochs=1 --seeds=0    # a smoke run, minutes

Published checkpoints cannot be downloaded here, so the benchmark makes its own "published"
model and measures the mechanism ("Don't Stop Pretraining", Gururangan et al., 2020):
1. a keras-hub `BertMaskedLM` at the Transformer's tiny size, trained `--preset_steps` by
   keras-hub on a general corpus (`--general_corpus`, the shipped sample's `data/corpus.txt`)
   with a vocabulary learned there and laid out as Google's is (`[PAD]`, `[unused]` tokens,
   then `[UNK] [CLS] [SEP] [MASK]`), and saved with `save_to_preset`;
2. `import_bert.py` turns the preset into a bundle (`imported`);
3. `train_bert_lm.py` pretrains on the domain corpus (`pretrain.txt`) for `--domain_steps`,
   masked LM only: `continued` starts from the imported bundle, `scratch` from fresh weights of
   the same architecture with the same vocabulary. They run side by side on one thread each:
   the same model for the same steps, so the same CPU minutes (measured, and reported);
4. each bundle (`imported` as it is, `continued`, `scratch`) is fine-tuned on
   `train_small.txt` at one learning rate for each of `--seeds`: test micro-F1, mean ± std.

Writes `<out>.json` (every figure) and `<out>.md`. Every step is skipped when its output exists,
so a rerun continues an interrupted benchmark. Needs keras-hub (`pip install -e ".[bench]"`).
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import time

import backbones
from benchmarks import keras_hub_reference, reports
from benchmarks.script_runs import ROOT, run_script
from bert_tf.corpus import read_corpus
from bert_tf.tokenization import SPECIAL_TOKENS, TokenizerConfig, learn_vocabulary

#: Google's vocabularies put 99 `[unused]` tokens between `[PAD]` and `[UNK]`.
UNUSED_TOKENS = 99
ARMS = ("imported", "continued", "scratch")


def google_layout(vocabulary: list[str]) -> list[str]:
    """A learned vocabulary (special tokens first) rearranged as Google's: `[PAD]`,
    `[unused0..98]`, `[UNK] [CLS] [SEP] [MASK]`, then the pieces in their order."""
    pieces = [token for token in vocabulary if token not in SPECIAL_TOKENS]
    unused = [f"[unused{i}]" for i in range(UNUSED_TOKENS)]
    return ["[PAD]", *unused, "[UNK]", "[CLS]", "[SEP]", "[MASK]", *pieces]


def _say(message):
    sys.stdout.write(f"{time.strftime('%H:%M:%S')} {message}\n")
    sys.stdout.flush()


def _cached(path, make):
    """The JSON at `path`, made by `make()` and written there the first time."""
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    record = make()
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    return record


def train_preset(args, work_dir):
    """Trains keras-hub's `BertMaskedLM` on the general corpus and saves it as a preset;
    returns its record (steps, CPU and wall seconds, keras-hub's last loss and accuracy)."""
    import keras_hub

    preset = os.path.join(work_dir, "preset")
    corpus = read_corpus(args.general_corpus)
    config = TokenizerConfig("wordpiece")
    vocabulary = google_layout(learn_vocabulary(corpus.sentences, config, args.vocab_size))
    backbone_config = backbones.backbone_config(
        "transformer", len(vocabulary), "tiny", max_sequence_length=args.max_seq_length
    )
    model = keras_hub_reference.masked_lm_model(backbone_config, args.learning_rate, 0.01)
    dataset = keras_hub_reference.masked_lm_dataset(
        keras_hub_reference.document_texts(corpus),
        vocabulary,
        sequence_length=args.max_seq_length,
        batch_size=args.batch_size,
        predictions=20,
    )
    last = {}
    cpu, wall = time.process_time(), time.perf_counter()
    keras_hub_reference.train(
        model, dataset, args.preset_steps, lambda step, logs: last.update(logs or {})
    )
    model.preprocessor = keras_hub.models.BertMaskedLMPreprocessor(
        keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True),
        sequence_length=args.max_seq_length,
    )
    model.save_to_preset(preset)
    return {
        "preset": preset,
        "general_corpus": args.general_corpus,
        "vocabulary_size": len(vocabulary),
        "steps": args.preset_steps,
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "wall_seconds": round(time.perf_counter() - wall, 1),
        "end_loss": float(last.get("loss", float("nan"))),
        "end_accuracy": float(last.get("sparse_categorical_accuracy", float("nan"))),
    }


def domain_pretraining(arm, args, imported, work_dir):
    """One arm's masked-LM pretraining on the domain corpus; returns its bundle's record."""
    bundle = os.path.join(work_dir, f"{arm}_{args.domain_steps}steps")
    common = [
        f"--corpus={os.path.join(args.data_dir, 'pretrain.txt')}",
        f"--output_dir={bundle}",
        "--tasks=masked_lm",
        f"--num_train_steps={args.domain_steps}",
        f"--learning_rate={args.learning_rate}",
        f"--batch_size={args.batch_size}",
        f"--max_seq_length={args.max_seq_length}",
        "--checkpoint_every=1000",
    ]
    if arm == "continued":
        specific = [f"--init_checkpoint={imported}"]
    else:  # the imported model's architecture, fresh weights, its vocabulary
        with open(os.path.join(imported, "config.json"), encoding="utf-8") as f:
            architecture = json.load(f)["backbone"]["config"]
        specific = [f"--vocab_file={os.path.join(imported, 'vocab.txt')}", "--backbone=transformer"]
        specific += [
            f"--{key}={architecture[key]}"
            for key in (
                "num_layers",
                "num_heads",
                "hidden_dim",
                "intermediate_dim",
                "intermediate_activation",
            )
        ]

    def pretrain():
        _say(f"pretraining {arm} on the domain ({args.domain_steps} steps)")
        return dict(run_script("train_bert_lm.py", common + specific, bundle + ".log", threads=1))

    record = _cached(bundle + ".json", pretrain)
    with open(os.path.join(bundle, "config.json"), encoding="utf-8") as f:
        summary = json.load(f)["training_summary"]
    return dict(
        record,
        arm=arm,
        bundle=bundle,
        steps=summary["steps"],
        masked_lm=summary["tasks"]["masked_lm"],
    )


def finetune(arm, bundle, seed, args, work_dir):
    """One fine-tuning run on `train_small.txt`; returns its row (`reports.finetune_row`)."""
    output = os.path.join(work_dir, f"finetune_{os.path.basename(bundle)}_s{seed}")
    if not os.path.isfile(os.path.join(output, "metrics.json")):
        _say(f"fine-tuning {arm} (seed {seed})")
        run_script(
            "train_bert_fine_tuning.py",
            [
                f"--init_checkpoint={bundle}",
                f"--train_file={os.path.join(args.data_dir, 'train_small.txt')}",
                f"--valid_file={os.path.join(args.data_dir, 'valid.txt')}",
                f"--test_file={os.path.join(args.data_dir, 'test.txt')}",
                f"--output_dir={output}",
                f"--epochs={args.epochs}",
                f"--learning_rate={args.finetune_learning_rate}",
                f"--max_seq_length={args.max_seq_length}",
                f"--seed={seed}",
            ],
            output + ".log",
            threads=1,
        )
    return dict(reports.finetune_row(output), arm=arm)


def run_benchmark(args):
    """All four steps; returns the record the report is made from."""
    work_dir = args.work_dir
    os.makedirs(work_dir, exist_ok=True)
    preset = _cached(os.path.join(work_dir, "preset.json"), lambda: train_preset(args, work_dir))
    imported = os.path.join(work_dir, "imported")
    if not os.path.isfile(os.path.join(imported, "config.json")):
        _say("importing the preset")
        run_script(
            "import_bert.py",
            [f"--source={preset['preset']}", f"--output_dir={imported}"],
            imported + ".log",
            threads=1,
        )
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        pretrained = dict(
            zip(
                ARMS[1:],
                pool.map(lambda arm: domain_pretraining(arm, args, imported, work_dir), ARMS[1:]),
            )
        )
        bundles = {"imported": imported, **{arm: r["bundle"] for arm, r in pretrained.items()}}
        runs = [(arm, seed) for arm in ARMS for seed in args.seeds]
        finetuned = list(
            pool.map(lambda run: finetune(run[0], bundles[run[0]], run[1], args, work_dir), runs)
        )
    return {
        "command": " ".join(["python -m benchmarks.continued_pretraining", *sys.argv[1:]]),
        "preset": preset,
        "domain_pretraining": pretrained,
        "finetuning": finetuned,
    }


def markdown_report(results) -> str:
    """The report: the preset, the two domain pretraining arms, the fine-tuned scores."""
    preset = results["preset"]
    lines = [
        "# Continued pretraining of an imported checkpoint vs. pretraining from scratch",
        "",
        f"`{results['command']}`",
        "",
        f"The \"published\" model: a keras-hub `BertMaskedLM` (tiny, {preset['vocabulary_size']} "
        f"tokens in Google's layout) trained {preset['steps']} steps on "
        f"`{preset['general_corpus']}` ({preset['cpu_seconds'] / 60:.1f} CPU minutes, masked-LM "
        f"loss {preset['end_loss']:.3f}, accuracy {preset['end_accuracy']:.3f}), imported with "
        "`import_bert.py`.",
        "",
        "## Pretraining on the domain corpus (masked LM)",
        "",
        "| arm | steps | CPU minutes | wall minutes | loss start → end | accuracy start → end |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for arm, r in results["domain_pretraining"].items():
        m = r["masked_lm"]
        lines.append(
            f"| {arm} | {r['steps']} | {r['cpu_seconds'] / 60:.1f} | {r['wall_seconds'] / 60:.1f} "
            f"| {m['start_loss']:.3f} → {m['end_loss']:.3f} "
            f"| {m['start_accuracy']:.3f} → {m['end_accuracy']:.3f} |"
        )
    lines += [
        "",
        "## Fine-tuned on train_small.txt",
        "",
        "| bundle | lr | epochs | seeds | test micro-F1 | valid micro-F1 | per seed (test) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for arm in ARMS:
        rows = [r for r in results["finetuning"] if r["arm"] == arm]
        if not rows:
            continue
        test = [r["test_micro_f1"] for r in rows]
        valid = [r["valid_micro_f1"] for r in rows]
        spread = statistics.pstdev(test) if len(test) > 1 else 0.0
        lines.append(
            f"| {arm} | {rows[0]['learning_rate']:g} | {rows[0]['epochs']} | {len(rows)} | "
            f"{statistics.mean(test):.4f} ± {spread:.4f} | {statistics.mean(valid):.4f} | "
            + ", ".join(f"{value:.4f}" for value in test)
            + " |"
        )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data_dir",
        required=True,
        help="Holds pretrain.txt, train_small.txt, valid.txt, test.txt.",
    )
    parser.add_argument("--general_corpus", default=os.path.join(ROOT, "data", "corpus.txt"))
    parser.add_argument(
        "--work_dir", default=os.path.join(ROOT, "runs", "benchmark", "continued_pretraining")
    )
    parser.add_argument("--out", help="Path prefix of the .json and .md (default: in --work_dir).")
    parser.add_argument("--vocab_size", type=int, default=8000)
    parser.add_argument("--preset_steps", type=int, default=3000)
    parser.add_argument("--domain_steps", type=int, default=6000)
    parser.add_argument(
        "--learning_rate", type=float, default=1e-3, help="Pretraining's, both stages."
    )
    parser.add_argument("--finetune_learning_rate", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--seeds", type=lambda text: [int(s) for s in text.split(",")], default=[0, 1, 2]
    )
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_seq_length", type=int, default=128)
    args = parser.parse_args()
    needed = ("pretrain.txt", "train_small.txt", "valid.txt", "test.txt")
    missing = [n for n in needed if not os.path.isfile(os.path.join(args.data_dir, n))]
    if missing:
        parser.error(f"--data_dir={args.data_dir} lacks {', '.join(missing)}")
    version, why = keras_hub_reference.version()
    if version is None:
        parser.error(f"this benchmark trains its preset with keras-hub: {why}")
    results = run_benchmark(args)
    out = args.out or os.path.join(args.work_dir, "continued_pretraining")
    report = markdown_report(results)
    with open(out + ".json", "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    with open(out + ".md", "w", encoding="utf-8") as f:
        f.write(report)
    print(report)


if __name__ == "__main__":
    main()
