"""The serving benchmark: a smoke run end to end against real server processes, the largest
batch a server can form, and the targets."""

import json
import os

import pytest

from benchmarks import serving
from benchmarks.serving_report import targets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_smoke_run_reports_every_cell_without_errors(tmp_path, tiny_tokenizer):
    vocabulary = tmp_path / "vocab.txt"
    tiny_tokenizer.save_vocabulary(str(vocabulary))
    out = str(tmp_path / "serving")
    serving.main(
        [
            f"--data_dir={os.path.join(ROOT, 'data')}",
            f"--vocab_file={vocabulary}",
            f"--out={out}",
            "--smoke",
            "--models=transformer:tiny",
            "--clients=1,2",
            "--request_sizes=1,3",
            "--requests_per_client=3",
            "--max_batch_size=4",
            "--in_process_seconds=0.05",
            f"--work_dir={tmp_path / 'work'}",
        ]
    )
    with open(f"{out}.json", encoding="utf-8") as f:
        results = json.load(f)
    model = results["models"]["transformer:tiny"]
    assert [r["batch_size"] for r in model["in_process"]] == [1, 2, 3]
    cells = {(r["batching"], r["clients"], r["request_size"]) for r in model["server"]}
    assert cells == {
        (True, 1, 1),
        (True, 2, 1),
        (True, 1, 3),
        (True, 2, 3),
        (False, 1, 1),
        (False, 2, 1),
    }
    for row in model["server"]:
        assert row["errors"] == 0 and row["requests"] == row["clients"] * 3
        assert row["texts_per_second"] > 0 and 0 < row["p50_ms"] <= row["p99_ms"]
        assert 1 <= row["mean_batch"] <= 4
    assert {t["target"].split(":")[0] for t in results["targets"]} >= {
        "2 clients x 1 text",
        "largest p99 / p50",
        "errors",
    }
    with open(f"{out}.md", encoding="utf-8") as f:
        report = f.read()
    assert "## Targets" in report and "## transformer:tiny" in report


def test_the_largest_batch_a_server_can_form_keeps_requests_whole():
    assert serving.ceiling_batch(16, 1, 64) == 16
    assert serving.ceiling_batch(16, 32, 64) == 64
    assert serving.ceiling_batch(4, 32, 100) == 96  # three requests of 32, not 100
    assert serving.ceiling_batch(1, 32, 16) == 32  # a request larger than the batch runs alone
    assert serving.ceiling_batch(16, 1, 1) == 1


def row(batching, clients, size, rate, share=1.0, p50=1.0, p99=2.0, errors=0):
    return dict(
        batching=batching,
        clients=clients,
        request_size=size,
        texts_per_second=rate,
        share_of_in_process=share,
        ceiling_batch=size,
        p50_ms=p50,
        p99_ms=p99,
        errors=errors,
    )


def test_targets_are_judged_at_the_most_clients():
    server = [
        row(True, 1, 1, 50.0, share=0.1),  # few clients: not judged
        row(True, 16, 1, 300.0, share=0.75),
        row(True, 16, 32, 900.0, share=0.65),
        row(False, 16, 1, 100.0, p99=12.0),
    ]
    found = targets({"models": {"m": {"server": server}}}, clients=16)
    met = {t["target"].split(":")[0].split(" (")[0]: t["met"] for t in found}
    assert met == {
        "16 clients x 1 texts": True,
        "16 clients x 32 texts": False,
        "16 clients x 1 text": True,  # 300 / 100 = 3x
        "largest p99 / p50": False,  # 12x
        "errors": True,
    }
