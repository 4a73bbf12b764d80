"""Tests for predict_bert.py, run as a user runs it: streaming through a pipe, clean errors for
a bad input file, and --top_k."""

import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

import finetuning_support as support
import pytest

LABELS = ["audio", "science", "gui", "games"]
THRESHOLDS = [0.5, 0.45, 0.55, 0.5]
TIMEOUT = 120  # seconds for TensorFlow's import, the model's loading and one batch


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """An untrained tiny classifier of four labels, saved as fine-tuning saves one."""
    directory = tmp_path_factory.mktemp("predict_bert") / "model"
    return support.make_untrained_classifier(directory, LABELS, THRESHOLDS)


@pytest.fixture(scope="module")
def texts():
    return [line.split("__label__")[0].strip() for line in support.read_lines("test.txt", 3)]


def next_line(lines: queue.Queue, deadline: float) -> str:
    """The script's next stdout line, failing the test once `deadline` has passed."""
    try:
        line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        pytest.fail(f"no output line within {TIMEOUT} s")
    assert line is not None, "stdout closed early"
    return line


def test_each_batch_is_printed_before_the_input_ends(saved_model, texts):
    stderr = tempfile.TemporaryFile()  # a file, not a pipe: TensorFlow's logs cannot block it
    process = subprocess.Popen(
        [sys.executable, "predict_bert.py", f"--model_dir={saved_model}", "--batch_size=2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        cwd=support.ROOT,
    )
    lines = queue.Queue()

    def read_stdout():
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read_stdout, daemon=True).start()
    try:
        process.stdin.write(f"{texts[0]}\n{texts[1]}\r\n")
        process.stdin.flush()  # stdin stays open: the first batch must come out on its own
        deadline = time.monotonic() + TIMEOUT
        first_batch = [next_line(lines, deadline) for _ in range(2)]
        assert process.poll() is None  # still waiting for more input

        process.stdin.write(texts[2] + "\n")
        process.stdin.close()
        deadline = time.monotonic() + TIMEOUT
        rest = next_line(lines, deadline)
        assert lines.get(timeout=TIMEOUT) is None  # then end of output
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        stderr.seek(0)
        log = stderr.read().decode("utf-8", "replace")
        stderr.close()
    assert "Traceback" not in log, log[-3000:]
    for line in first_batch + [rest]:
        assert line.endswith("\n") and not line.endswith("\r\n")
        names = [item.rsplit(":", 1)[0] for item in line.rstrip("\n").split("\t")]
        assert names and set(names) <= set(LABELS), line


def test_top_k_prints_exactly_k_labels_per_line(saved_model, texts, tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(texts) + "\n\n", encoding="utf-8")  # an empty last text too
    result = support.run_script(
        "predict_bert.py", f"--model_dir={saved_model}", f"--input={path}", "--top_k=3"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert len(lines) == len(texts) + 1, result.stdout
    for line in lines:
        items = line.split("\t")
        assert len(items) == 3, line
        probabilities = [float(item.rsplit(":", 1)[1]) for item in items]
        assert probabilities == sorted(probabilities, reverse=True)


def test_a_missing_input_file_is_a_clean_error(saved_model):
    missing = os.path.join(os.sep, "nonexistent.txt")
    result = support.run_script(
        "predict_bert.py", f"--model_dir={saved_model}", f"--input={missing}"
    )
    support.assert_clean_error(result, missing, "not found")
    assert result.stdout == ""


def test_invalid_utf8_is_a_clean_error_naming_the_line(saved_model, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("a good line\nun caf\xe9 cr\xe8me\n".encode("latin-1"))
    result = support.run_script("predict_bert.py", f"--model_dir={saved_model}", f"--input={path}")
    support.assert_clean_error(result, f"{path}:2", "UTF-8")
