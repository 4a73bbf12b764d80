"""The A/B step timer: medians, ratio and rounds won per size; a real two-policy run."""

import json

import pytest

from benchmarks import ab_step


def fake(side, size, round_, rate):
    return dict(side=side, size=size, round=round_, steps_per_second=rate, timed_steps=30)


def test_summary_gives_medians_the_ratio_and_the_rounds_b_won():
    records = [
        fake("A", "tiny", 1, 4.0),
        fake("B", "tiny", 1, 5.0),
        fake("A", "tiny", 2, 3.0),
        fake("B", "tiny", 2, 2.0),
        fake("A", "tiny", 3, 3.5),
        fake("B", "tiny", 3, 4.5),
    ]
    (row,) = ab_step.summarize(records, ["tiny"]).values()
    assert row["median_steps_per_second"] == {"A": 3.5, "B": 4.5}
    assert row["ratio_b_over_a"] == pytest.approx(4.5 / 3.5)
    assert (row["rounds_b_faster"], row["rounds"]) == (2, 3)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["."], "two checkouts"),
        ([".", ".", "--policies=float32"], "two checkouts"),
        ([".", ".", "--policies=float32,mixed_float16"], "mixed_float16"),
        ([".", ".", "--jit_compile=1"], "--jit_compile=1"),
        ([".", ".", "--jit_compile=0,yes"], "--jit_compile=0,yes"),
    ],
)
def test_bad_sides_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        ab_step.main(argv)
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_a_run_writes_both_sides_records_and_report(tmp_path):
    out = str(tmp_path / "ab")
    ab_step.main(
        [".", ".", "--policies=float32,mixed_bfloat16", "--jit_compile=0,1", "--sizes=tiny"]
        + ["--rounds=1"]
        + ["--warmup=1", "--steps=2", "--batch_size=4", "--length=16", "--vocabulary_size=300"]
        + [f"--out={out}"]
    )
    with open(out + ".json", encoding="utf-8") as f:
        result = json.load(f)
    assert [s["policy"] for s in result["sides"].values()] == ["float32", "mixed_bfloat16"]
    assert [s["jit_compile"] for s in result["sides"].values()] == [False, True]
    assert [(r["side"], r["size"]) for r in result["records"]] == [("A", "tiny"), ("B", "tiny")]
    assert all(r["steps_per_second"] > 0 and r["timed_steps"] >= 1 for r in result["records"])
    with open(out + ".md", encoding="utf-8") as f:
        report = f.read()
    assert "mixed_bfloat16, XLA" in report and "| tiny | 1 |" in report
