"""Helpers shared by the stage-2 (fine-tuning) tests: tiny bundles, labeled subsets, bundle
surgery that keeps the checksums right, and the script runner.

`tests/helpers` is on pytest's `pythonpath` (pyproject.toml); it holds only helper modules
(this one and `tiny_configs`), since `tests/` itself would shadow the `backbones` and
`pretrain_tasks` packages with its test directories of the same names.
"""

import json
import os
import random
import subprocess
import sys

from tiny_configs import tiny_overrides

import backbones
from backbones.base import model_inputs_example
from bert_tf import bundle, problem_types
from bert_tf.classifier_bundle import save_classifier
from bert_tf.pretraining import PretrainConfig, run_pretraining
from bert_tf.tokenization import Tokenizer, TokenizerConfig, learn_vocabulary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "data")


def read_lines(name: str, count: int, start: int = 0) -> list[str]:
    """Lines `start` .. `start + count` of a shipped data file, with their line ends."""
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return f.readlines()[start : start + count]


def write_subset(path, name: str, count: int, start: int = 0) -> str:
    """Writes `count` lines of the shipped `data/<name>` to `path`; returns the path as str."""
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(read_lines(name, count, start))
    return str(path)


def labeled_files(directory, train=100, valid=24, test=24) -> dict:
    """Train, valid and test subsets of the shipped sample, as `FinetuneConfig` kwargs."""
    os.makedirs(directory, exist_ok=True)
    return {
        "train_file": write_subset(os.path.join(directory, "train.txt"), "train.txt", train),
        "valid_file": write_subset(os.path.join(directory, "valid.txt"), "valid.txt", valid),
        "test_file": write_subset(os.path.join(directory, "test.txt"), "test.txt", test),
    }


def make_tiny_bundle(directory, backbone_name: str, corpus_lines: int = 120, **changes) -> str:
    """Pretrains a tiny backbone for 5 steps on the start of the shipped corpus (`changes`
    override `PretrainConfig` settings); returns the bundle directory."""
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    corpus = write_subset(os.path.join(directory, "corpus.txt"), "corpus.txt", corpus_lines)
    settings = dict(
        corpus=corpus,
        output_dir=os.path.join(directory, "bundle"),
        backbone=backbone_name,
        backbone_overrides=tiny_overrides(backbone_name),
        num_train_steps=5,
        vocab_size=200,
        max_seq_length=32,
        batch_size=8,
        checkpoint_every=100,
        log_every=100,
    )
    run_pretraining(PretrainConfig(**{**settings, **changes}))
    return os.path.join(directory, "bundle")


def read_config(bundle_dir) -> dict:
    with open(os.path.join(bundle_dir, bundle.CONFIG_FILE), encoding="utf-8") as f:
        return json.load(f)


def write_config(bundle_dir, config: dict) -> None:
    with open(os.path.join(bundle_dir, bundle.CONFIG_FILE), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)


def refresh_checksum(bundle_dir, name: str) -> None:
    """Records file `name`'s current checksum in config.json, so a test that changed the file
    on purpose tests the change, not the checksum check."""
    config = read_config(bundle_dir)
    config["files"][name] = bundle.file_checksum(os.path.join(bundle_dir, name))
    write_config(bundle_dir, config)


def run_script(script: str, *args, timeout: int = 300) -> subprocess.CompletedProcess:
    """Runs a top-level script of the repo as a user would, capturing its output."""
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def assert_clean_error(result, *fragments) -> None:
    """Exit status 2, every fragment in stderr, and no traceback."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    for fragment in fragments:
        assert str(fragment) in result.stderr, (fragment, result.stderr[-3000:])


def checkpoint_step(checkpoint_dir) -> int:
    """The step of the latest checkpoint TensorFlow has indexed, or 0."""
    index = os.path.join(checkpoint_dir, "checkpoint")
    if not os.path.isfile(index):
        return 0
    with open(index, encoding="utf-8") as f:
        first = f.readline()
    return int(first.rsplit("-", 1)[-1].strip().strip('"'))


def _untrained_tiny_backbone(backbone_name: str):
    """A tokenizer learned from the sample's first 60 train lines and a fresh tiny backbone."""
    texts = [line.split("__label__")[0] for line in read_lines("train.txt", 60)]
    config = TokenizerConfig("wordpiece")
    tokenizer = Tokenizer(learn_vocabulary(texts, config, 150), config)
    backbone = backbones.build(
        backbone_name,
        backbones.backbone_config(
            backbone_name,
            tokenizer.vocabulary_size,
            "tiny",
            max_sequence_length=32,
            **tiny_overrides(backbone_name),
        ),
    )
    return tokenizer, backbone


def make_untrained_bundle(directory, backbone_name: str = "transformer") -> str:
    """A complete, valid bundle with fresh weights and no training (no tf.function to trace),
    for tests about the bundle's files rather than its weights; returns its directory."""
    directory = str(directory)
    tokenizer, backbone = _untrained_tiny_backbone(backbone_name)
    backbone(model_inputs_example())
    bundle.save_bundle(
        directory,
        backbone_name=backbone_name,
        backbone=backbone,
        tokenizer=tokenizer,
        max_seq_length=32,
        tasks=[],
        training_summary={},
        head_variables=[],
    )
    return directory


def make_untrained_classifier(
    directory,
    labels,
    thresholds,
    backbone_name: str = "transformer",
    problem_type: str = "multi_label",
    text_pairs: bool = False,
) -> str:
    """A fine-tuned model directory (as fine-tuning saves one) holding an untrained tiny
    classifier of `problem_type` (single-label: `thresholds` None), on single texts or on
    pairs, for tests about using a saved model rather than training one."""
    directory = str(directory)
    tokenizer, backbone = _untrained_tiny_backbone(backbone_name)
    model = problem_types.get(problem_type).classifier_class(
        backbone, len(labels), backbones.get(backbone_name).DEFAULT_POOLING
    )
    model(model_inputs_example())
    save_classifier(
        directory,
        model=model,
        backbone_name=backbone_name,
        tokenizer=tokenizer,
        labels=list(labels),
        thresholds=thresholds,
        max_seq_length=32,
        text_pairs=text_pairs,
    )
    return directory


def corpus_documents(start: int = 0) -> list[list[str]]:
    """The shipped corpus's documents from document `start` on, each a list of sentences."""
    with open(os.path.join(DATA, "corpus.txt"), encoding="utf-8") as f:
        documents = [block.split("\n") for block in f.read().strip().split("\n\n")]
    return documents[start:]


def write_continuation_pairs(directory, sizes: dict, first_document: int, seed: int = 0) -> dict:
    """A sentence-pair task cut from the shipped corpus: "is B the continuation of A?".

    Each line is one sentence cut at a random word: `A<TAB>B __label__next` (B is the rest of
    A's sentence) or `__label__random` (B is as many words from inside a sentence of another
    document), half and half, as next-sentence pretraining cuts a chunk of one sentence. The
    documents from `first_document` on are used, each by one split only.

    Args:
        directory: where `train.txt`, `valid.txt` and `test.txt` go.
        sizes: dict split -> number of lines, e.g. {"train": 300, "valid": 100, "test": 100}.
        first_document: int. The first corpus document used (keep pretraining's out).
        seed: int.

    Returns:
        dict: `FinetuneConfig` kwargs (`train_file`, `valid_file`, `test_file`).
    """
    rng = random.Random(seed)
    documents = corpus_documents(first_document)
    os.makedirs(directory, exist_ok=True)
    files, used = {}, 0
    for split, size in sizes.items():
        own = documents[used : used + size]
        used += size
        lines = []
        for number, document in enumerate(own):
            words = rng.choice(document).split()
            cut = rng.randrange(2, len(words) - 1)
            first, rest = words[:cut], words[cut:]
            if number % 2:
                other = own[(number + rng.randrange(1, len(own))) % len(own)]
                other_words = rng.choice(other).split()
                start = rng.randrange(1, len(other_words) - 1)
                rest, label = other_words[start : start + len(rest)], "random"
            else:
                label = "next"
            lines.append(f"{' '.join(first)}\t{' '.join(rest)} __label__{label}\n")
        path = os.path.join(str(directory), f"{split}.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(lines)
        files[f"{split}_file"] = path
    return files
