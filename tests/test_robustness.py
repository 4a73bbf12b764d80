"""Both scripts under bad input, kill -9 and repeated seeds: clear errors, resumed runs, same
losses. Each case runs the real script in a subprocess, as a user would."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_BACKBONE = ["--hidden_dim=16", "--num_layers=1", "--num_heads=2", "--intermediate_dim=32"]


def run_script(script, *args, timeout=300):
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.fixture
def small_corpus(tmp_path):
    """The first 400 lines of the shipped corpus (about 80 documents)."""
    with open(os.path.join(ROOT, "data", "corpus.txt"), encoding="utf-8") as f:
        lines = f.readlines()[:400]
    path = tmp_path / "corpus.txt"
    path.write_text("".join(lines), encoding="utf-8")
    return str(path)


def pretrain_args(corpus, output_dir, steps, *extra):
    return [
        f"--corpus={corpus}",
        f"--output_dir={output_dir}",
        f"--num_train_steps={steps}",
        "--vocab_size=300",
        "--max_seq_length=32",
        "--batch_size=8",
        "--log_every=5",
        *TINY_BACKBONE,
        *extra,
    ]


def assert_clean_error(result, *fragments):
    """Exit status 2, the fragments in the message, and no traceback."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr[-2000:])


@pytest.mark.slow
@pytest.mark.parametrize(
    "content, fragment",
    [
        (None, "not found"),
        (b"", "empty"),
        (b"\n\n  \n\n", "blank"),
        (b"good line.\nbad \xff byte.\n", ":2:"),
    ],
)
def test_pretraining_rejects_bad_corpus(tmp_path, content, fragment):
    corpus = tmp_path / "corpus.txt"
    if content is not None:
        corpus.write_bytes(content)
    result = run_script("train_bert_lm.py", *pretrain_args(corpus, tmp_path / "out", 2))
    assert_clean_error(result, str(corpus), fragment)


@pytest.mark.slow
@pytest.mark.parametrize(
    "flag, fragment",
    [
        ("--batch_size=0", "--batch_size=0"),
        ("--batch_size=-4", "--batch_size=-4"),
        ("--max_seq_length=2", "[CLS] a [SEP];"),
        ("--max_seq_length=4 --tasks=masked_lm,next_sentence", "[CLS] a [SEP] b [SEP]"),
        ("--tasks=masked_lm,jigsaw", "jigsaw"),
    ],
)
def test_pretraining_rejects_bad_flags(tmp_path, small_corpus, flag, fragment):
    result = run_script(
        "train_bert_lm.py", *pretrain_args(small_corpus, tmp_path / "o", 2), *flag.split()
    )
    assert_clean_error(result, fragment)


@pytest.mark.slow
def test_unknown_backbone_is_a_usage_error(tmp_path, small_corpus):
    result = run_script(
        "train_bert_lm.py", *pretrain_args(small_corpus, tmp_path / "o", 2), "--backbone=lstm"
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "lstm" in result.stderr and "transformer" in result.stderr


def checkpoint_step(checkpoint_dir):
    """The step of the latest checkpoint TensorFlow has indexed, or 0."""
    index = os.path.join(checkpoint_dir, "checkpoint")
    if not os.path.isfile(index):
        return 0
    with open(index, encoding="utf-8") as f:
        first = f.readline()
    return int(first.rsplit("-", 1)[-1].strip().strip('"'))


@pytest.mark.slow
def test_pretraining_survives_kill_9(tmp_path, small_corpus):
    output = tmp_path / "run"
    args = pretrain_args(small_corpus, output, 150, "--checkpoint_every=10")
    process = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "train_bert_lm.py"), *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while checkpoint_step(output / "checkpoints") < 20 and time.time() < deadline:
        if process.poll() is not None:
            pytest.fail("the run ended before it could be killed")
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = checkpoint_step(output / "checkpoints")
    assert 20 <= killed_at < 150
    assert not (output / "config.json").exists()

    result = run_script("train_bert_lm.py", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resumed from" in result.stderr
    with open(output / "config.json", encoding="utf-8") as f:
        config = json.load(f)
    assert config["training_summary"]["steps"] == 150
    assert checkpoint_step(output / "checkpoints") == 150


@pytest.mark.slow
def test_same_seed_same_losses(tmp_path, small_corpus):
    summaries = []
    for name in ("a", "b"):
        result = run_script(
            "train_bert_lm.py",
            *pretrain_args(small_corpus, tmp_path / name, 12, "--deterministic", "--seed=7"),
        )
        assert result.returncode == 0, result.stderr[-2000:]
        with open(tmp_path / name / "config.json", encoding="utf-8") as f:
            summaries.append(json.load(f)["training_summary"]["tasks"])
    assert summaries[0] == summaries[1]
    other = run_script(
        "train_bert_lm.py",
        *pretrain_args(small_corpus, tmp_path / "c", 12, "--deterministic", "--seed=8"),
    )
    with open(tmp_path / "c" / "config.json", encoding="utf-8") as f:
        assert json.load(f)["training_summary"]["tasks"] != summaries[0], other.stderr[-500:]


@pytest.mark.slow
def test_pretraining_takes_crlf_and_a_one_megabyte_line(tmp_path, small_corpus):
    with open(small_corpus, encoding="utf-8") as f:
        text = f.read()
    long_line = " ".join(["averyveryverylongword", "short", "x" * 300] * 26000)[: 1 << 20]
    corpus = tmp_path / "crlf.txt"
    corpus.write_bytes((text + "\n" + long_line + "\n").replace("\n", "\r\n").encode("utf-8"))
    result = run_script("train_bert_lm.py", *pretrain_args(corpus, tmp_path / "out", 3))
    assert result.returncode == 0, result.stderr[-2000:]
    with open(tmp_path / "out" / "vocab.txt", encoding="utf-8") as f:
        assert not any(token.endswith("\r") for token in f.read().split("\n"))
