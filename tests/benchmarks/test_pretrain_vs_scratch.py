"""The benchmark's report: mean ± std over seeds, the gain, and the learning-curve plot."""

import dataclasses
import json
import os
import sys
import threading
import time

import numpy as np
import pytest

import backbones
from benchmarks import pretrain_vs_scratch as benchmark
from benchmarks import pretrain_vs_scratch_inputs as inputs
from benchmarks.pretrain_vs_scratch import Budget, Plan, run_benchmark
from benchmarks.pretrain_vs_scratch_report import (
    markdown_report,
    plot_curves,
    unfinished_groups,
    write_outputs,
)
from bert_tf import run_state
from bert_tf.pretraining import PretrainConfig

ARMS = ("pretrained", "scratch")
SHARED_VOCABULARY = benchmark.shared_vocabulary  # before any test replaces it
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def record(backbone, arm, seed, test_micro_f1, curve, chosen=True, lr=1e-3, **extra):
    return dict(
        extra,
        backbone=backbone,
        train_file="train_small.txt",
        arm=arm,
        seed=seed,
        learning_rate=lr,
        chosen=chosen,
        test_micro_f1=test_micro_f1,
        test_macro_f1=0.1,
        test_mean_f1=0.3,
        valid_micro_f1=curve[-1] if curve else 0.0,
        valid_curve=curve,
        first_step_loss=0.7,
        epoch1_valid_loss=0.05,
        wall_seconds=60.0,
        best_epoch=len(curve) or None,
    )


def test_report_gives_mean_std_and_gain():
    records = [
        record("transformer", "pretrained", 0, 0.50, [0.3, 0.4], pooling="max"),
        record("transformer", "pretrained", 1, 0.52, [0.3, 0.45], pooling="max"),
        record("transformer", "scratch", 0, 0.40, [0.2, 0.3], pooling="max"),
        record("transformer", "scratch", 1, 0.44, [0.2, 0.35], pooling="max"),
        record("transformer", "scratch", 0, 0.10, [0.1, 0.1], chosen=False, lr=3e-3),
        record("none", "tfidf_lr", 0, 0.45, [], lr=None, c=10.0),
    ]
    report = markdown_report(records)
    assert "| transformer | pretrained | max | 0.001 | 2 |" in report
    assert "0.5100 ± 0.0100" in report  # pretrained test micro-F1 over two seeds
    assert "0.4200 ± 0.0200" in report  # the unchosen 3e-3 run is left out
    assert "gains +9.0 points" in report
    assert "twice the larger std: 4.0 points; target of at least 5.0 points" in report
    assert "more than twice the std met" in report
    assert "| none | tfidf_lr | – | C=10 |" in report
    assert "pretrained vs. TF-IDF + logistic regression: 0.5100 vs. 0.4500" in report
    # Macro-F1 counts too: 0.1 against TF-IDF's 0.1 is not above.
    assert "0.1000 vs. 0.1000 test macro-F1 (not above on both)" in report


def test_report_says_when_the_gain_target_is_missed():
    records = [
        record("textcnn", "pretrained", 0, 0.46, [0.3]),
        record("textcnn", "pretrained", 1, 0.54, [0.3]),
        record("textcnn", "scratch", 0, 0.44, [0.3]),
        record("textcnn", "scratch", 1, 0.46, [0.3]),
    ]
    report = markdown_report(records)
    assert "gains +5.0 points" in report
    assert "twice the larger std: 8.0 points" in report
    assert "not met" in report


def test_report_keeps_the_run_order_and_sets_the_gain_target_on_the_small_set_only():
    runs = [
        record("textcnn", "pretrained", 0, 0.60, [0.3]),
        record("textcnn", "scratch", 0, 0.50, [0.3]),
    ]
    larger = [dict(r, train_file="train.txt", test_micro_f1=r["test_micro_f1"] + 0.1) for r in runs]
    report = markdown_report(runs + larger)
    small_part, large_part = report.split("### train.txt")
    assert "### train_small.txt" in small_part  # run first, shown first
    assert "gains +10.0 points" in small_part and "more than twice the std met" in small_part
    assert "gains +10.0 points" in large_part and "target" not in large_part


def single_label_record(backbone, arm, seed, accuracy, macro_f1, curve, **extra):
    figures = dict(test_accuracy=accuracy, test_macro_f1=macro_f1, valid_accuracy=curve[-1])
    base = record(backbone, arm, seed, None, curve, **extra)
    for key in ("test_micro_f1", "test_mean_f1", "valid_micro_f1"):
        del base[key]
    return dict(base, problem_type="single_label", **figures)


def test_single_label_report_gives_accuracy_the_strict_gain_target_and_both_tfidf_figures():
    records = [
        single_label_record("transformer", "pretrained", 0, 0.70, 0.45, [0.6, 0.68]),
        single_label_record("transformer", "pretrained", 1, 0.72, 0.47, [0.6, 0.70]),
        single_label_record("transformer", "scratch", 0, 0.60, 0.30, [0.5, 0.58]),
        single_label_record("transformer", "scratch", 1, 0.62, 0.32, [0.5, 0.60]),
        single_label_record("none", "tfidf_lr", 0, 0.66, 0.40, [0.0], lr=None, c=100.0),
    ]
    report = markdown_report(records, "single_label")
    assert (
        "| valid acc ep 1 |" in report and "| test accuracy | test macro-F1 | minutes |" in report
    )
    assert "| transformer | pretrained | – | 0.001 | 2 | 0.6000 ± 0.0000 |" in report
    assert "0.7100 ± 0.0100 | 0.4600 ± 0.0100 |" in report
    # Gain 10 points, twice the larger std 2: 8 beyond it, so at least 5 beyond: met.
    assert "pretraining gains +10.0 points of test accuracy (twice the larger std: 2.0" in report
    assert "gain less twice the std +8.0: target of at least 5.0 points beyond twice" in report
    assert "the std met" in report
    assert (
        "pretrained vs. TF-IDF + logistic regression: 0.7100 vs. 0.6600 test accuracy, "
        "0.4600 vs. 0.4000 test macro-F1 (above on both)" in report
    )
    # 6 points of gain, 2 of spread: 4 beyond twice the std is not enough.
    worse = [
        dict(r, test_accuracy=r["test_accuracy"] - 0.04) if r["arm"] == "pretrained" else r
        for r in records
    ]
    assert "target of at least 5.0 points beyond twice the std not met" in markdown_report(
        worse, "single_label"
    )
    below = [dict(r, test_macro_f1=0.39) if r["arm"] == "pretrained" else r for r in records]
    assert "(not above on both)" in markdown_report(below, "single_label")


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curves.png"
    plot_curves([record("textcnn", "pretrained", 0, 0.5, [0.3, 0.4, 0.5])], str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "best, tried, expected",
    [
        (1e-3, [3e-4, 1e-3, 3e-3], None),  # inside the sweep: done
        (3e-3, [3e-4, 1e-3, 3e-3], 1e-2),  # at the top: one step up
        (3e-4, [3e-4, 1e-3, 3e-3], 1e-4),  # at the bottom: one step down
        (1e-3, [1e-3], 3e-3),  # a single rate tries upwards first
        (3e-2, [1e-2, 3e-2], None),  # the end of the ladder
    ],
)
def test_a_sweep_extends_past_a_best_rate_at_its_edge(best, tried, expected):
    assert benchmark._next_rate_beyond(best, tried) == expected


def sample_data_dir(path):
    """The benchmark's file layout, cut from the shipped sample."""
    path.mkdir()
    sample = os.path.join(ROOT, "data")
    for source, target, lines in (
        ("corpus.txt", "pretrain.txt", 1500),
        ("train.txt", "train_small.txt", 120),
        ("valid.txt", "valid.txt", 60),
        ("test.txt", "test.txt", 60),
    ):
        with open(os.path.join(sample, source), encoding="utf-8") as f:
            head = [line for _, line in zip(range(lines), f)]
        (path / target).write_text("".join(head), encoding="utf-8")
    return str(path)


@pytest.mark.slow
def test_benchmark_end_to_end_sweeps_then_repeats_and_reuses_finished_runs(tmp_path, monkeypatch):
    budget = Budget("tiny", 4, 1e-3, {"train_small.txt": 2}, (1e-3, 3e-3), (0, 1))
    plan = Plan(budget, sample_data_dir(tmp_path / "data"), str(tmp_path / "work"), jobs=2)
    *_, records = run_benchmark(plan, ["transformer"])

    assert [r["arm"] for r in records].count("tfidf_lr") == 1
    for arm in ("pretrained", "scratch"):
        runs = [r for r in records if r["arm"] == arm]
        sweep = [r for r in runs if r["stage"] == "sweep"]
        rates = [r["learning_rate"] for r in sweep]
        assert rates[:2] == [1e-3, 3e-3] and len(set(rates)) == len(rates)
        (best,) = [r for r in sweep if r["chosen"]]
        chosen_on = budget.selection_metric  # valid mean-F1, the default
        assert best[chosen_on] == max(r[chosen_on] for r in sweep)
        assert benchmark._next_rate_beyond(best["learning_rate"], rates) is None
        (repeat,) = [r for r in runs if r["stage"] == "seed"]
        assert (repeat["seed"], repeat["learning_rate"]) == (1, best["learning_rate"])
        for r in runs:
            assert len(r["valid_curve"]) == 2 and 1 <= r["best_epoch"] <= 2
            assert 0 <= r["test_micro_f1"] <= 1 and r["wall_seconds"] > 0
            with open(os.path.join(r["run"], "metrics.json"), encoding="utf-8") as f:
                assert json.load(f)["arm"] == arm

    def no_new_runs(*args, **kwargs):
        raise AssertionError(f"a finished run was run again: {args}")

    monkeypatch.setattr(benchmark, "run_script", no_new_runs)
    *_, again = run_benchmark(plan, ["transformer"])
    assert again == records


def test_run_names_keep_settings_apart_and_share_scratch_runs_across_pretraining_lengths():
    short = Budget("tiny", 6000, 1e-3, {"train_small.txt": 10}, (1e-3,), (0,))
    long = dataclasses.replace(short, pretrain_steps=12000)
    max_pooling = dataclasses.replace(short, pooling="max")
    mean_pooling = dataclasses.replace(short, pooling="mean")
    name = benchmark.run_name

    assert name("textcnn", "scratch", "train_small.txt", 1e-3, 0, short) == name(
        "textcnn", "scratch", "train_small.txt", 1e-3, 0, long
    )
    assert name("textcnn", "pretrained", "train_small.txt", 1e-3, 0, short) != name(
        "textcnn", "pretrained", "train_small.txt", 1e-3, 0, long
    )
    names = {
        name(backbone, arm, "train_small.txt", 1e-3, 0, budget)
        for backbone in ("textcnn", "transformer")
        for arm in ("pretrained", "scratch")
        for budget in (short, max_pooling, mean_pooling)
    }
    assert len(names) == 8  # without --pooling each backbone's default: mean or max
    assert name("transformer", "pretrained", "train.txt", 3e-4, 2, max_pooling) == (
        "transformer_train_pretrained6000_maxpool_lr0.0003_s2"
    )
    for backbone in ("textcnn", "transformer"):
        default = backbones.get(backbone).DEFAULT_POOLING
        assert short.pooling_of(backbone) == default
        assert name(backbone, "scratch", "train.txt", 1e-3, 0, short) == name(
            backbone, "scratch", "train.txt", 1e-3, 0, dataclasses.replace(short, pooling=default)
        )


def test_single_label_runs_are_named_apart_and_multi_label_names_are_unchanged():
    multi = Budget("tiny", 12000, 1e-3, {"train_small.txt": 10}, (1e-3,), (0,))
    single = dataclasses.replace(multi, problem_type="single_label")
    assert benchmark.run_name("transformer", "pretrained", "train_small.txt", 1e-3, 0, multi) == (
        "transformer_train_small_pretrained12000_lr0.001_s0"
    )
    assert benchmark.run_name("textcnn", "scratch", "train_small.txt", 3e-3, 1, single) == (
        "textcnn_train_small_scratch_maxpool_lr0.003_s1_single_label"
    )
    assert (multi.selection_metric, single.selection_metric) == (
        "valid_mean_f1",
        "valid_accuracy",
    )
    assert dataclasses.replace(multi, select_epoch_on="micro_f1").selection_metric == (
        "valid_micro_f1"
    )


def test_budget_overrides_replace_only_what_is_given():
    full = benchmark.BUDGETS["full"]
    assert benchmark.budget_with_overrides(full) == full
    single = benchmark.budget_with_overrides(full, problem_type="single_label")
    # full chooses on mean-F1, which single-label lacks: it falls back to accuracy.
    assert single == dataclasses.replace(full, problem_type="single_label", select_epoch_on=None)
    assert single.selection_metric == "valid_accuracy"
    mlm_nsp = benchmark.BUDGETS["full_mlm_nsp"]
    single_mlm_nsp = benchmark.budget_with_overrides(mlm_nsp, problem_type="single_label")
    assert single_mlm_nsp.selection_metric == "valid_accuracy"
    small = benchmark.budget_with_overrides(full, 3000, "max", "train_small.txt")
    assert (small.pretrain_steps, small.pooling, small.train_files) == (
        3000,
        "max",
        ("train_small.txt",),
    )
    assert small.seeds == full.seeds and small.learning_rates == full.learning_rates
    with pytest.raises(ValueError, match="train_tiny.txt"):
        benchmark.budget_with_overrides(full, train_files="train_tiny.txt")
    # The large set reuses the small set's rates, so its sweeps stay in, first.
    large = benchmark.budget_with_overrides(full, train_files="train.txt")
    assert large.train_files == ("train_small.txt", "train.txt")
    # Fine-tuning flags add to the budget's own (a lever's), after them.
    lever = dataclasses.replace(full, finetune_flags=("--pooling=mean",))
    longer = benchmark.budget_with_overrides(lever, finetune_flags=("--max_seq_length=256",))
    assert longer.finetune_flags == ("--pooling=mean", "--max_seq_length=256")
    assert benchmark.budget_with_overrides(full, seeds="0").seeds == (0,)
    with pytest.raises(ValueError, match="--seeds=0,x: expected comma-separated integers"):
        benchmark.budget_with_overrides(full, seeds="0,x")


def fake_scripts(monkeypatch, valid_f1_at):
    """Replaces the real scripts with stand-ins that write just the files the benchmark reads,
    scoring each fine-tuning run `valid_f1_at(learning_rate)`; returns the most runs seen at
    once, the runs' directories in start order and, at each start, the backbones running."""
    seen = {"most_at_once": 0, "started": [], "backbones_at_once": []}
    running = set()  # the directories of the runs going now
    lock = threading.Lock()

    def run(script, args, log_path, threads=0):
        flags = dict(arg[2:].split("=", 1) for arg in args)
        write_args = args
        name = os.path.basename(flags["output_dir"])
        os.makedirs(flags["output_dir"], exist_ok=True)
        with lock:
            seen["started"].append(name)
            seen["backbones_at_once"].append({other.split("_")[0] for other in running})
            running.add(name)
            seen["most_at_once"] = max(seen["most_at_once"], len(running))
            # Staggered, so runs started together end apart and the next ones start beside
            # those still going, however loaded the machine is.
            duration = 0.1 * (1 + len(seen["started"]) % 3)
        try:
            time.sleep(duration)
            write_outputs(script, flags, write_args)
        finally:
            with lock:
                running.remove(name)

    def write_outputs(script, flags, args):
        if script == "train_bert_lm.py":
            seen.setdefault("corpora", []).append(flags["corpus"])
            seen.setdefault("pretraining_args", []).append(args)
            summary_of(flags["output_dir"], flags["backbone"], int(flags["num_train_steps"]))
            return
        f1 = valid_f1_at(float(flags["learning_rate"]))
        scores = dict(micro_f1=f1, macro_f1=f1, mean_f1=f1, precision=f1, recall=f1)
        history = [dict(train_loss=0.1, valid_loss=0.1, valid_micro_f1=f1)]
        extra = {}
        if flags["problem_type"] == "single_label":
            # Accuracy decides here; micro-F1 (absent in real single-label runs) would not.
            scores = dict(accuracy=f1, macro_f1=1 - f1)
            history = [dict(train_loss=0.1, valid_loss=0.1, valid_accuracy=f1)]
            extra["test_confusion_matrix"] = {"labels": ["a", "b"], "matrix": [[3, 1], [0, 2]]}
        metrics = {
            "arm": "pretrained" if flags["load_weights"] == "True" else "scratch",
            "config": {
                "init_checkpoint": flags["init_checkpoint"],
                "train_file": flags["train_file"],
                "learning_rate": float(flags["learning_rate"]),
                "seed": int(flags["seed"]),
                "pooling": flags["pooling"],
                "problem_type": flags["problem_type"],
            },
            "history": history,
            "first_step_loss": 0.7,
            "best_epoch": 1,
            "finetune_args": args,
            "valid": scores,
            "test": dict(scores, threshold=0.5),
            "wall_seconds": 0.05,
            **extra,
        }
        with open(os.path.join(flags["output_dir"], "metrics.json"), "w") as f:
            json.dump(metrics, f)

    monkeypatch.setattr(benchmark, "run_script", run)
    monkeypatch.setattr(benchmark, "shared_vocabulary", lambda plan: "vocab.txt")
    monkeypatch.setattr(
        benchmark,
        "tfidf_record",
        lambda train_file, plan: (
            single_label_record("none", "tfidf_lr", 0, 0.4, 0.3, [0.0], lr=None, c=1.0)
            if plan.budget.problem_type == "single_label"
            else record("none", "tfidf_lr", 0, 0.4, [], lr=None, c=1.0)
        ),
    )
    return seen


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_at_most_jobs_runs_go_at_once_across_backbones_sweeps_and_arms(tmp_path, monkeypatch, jobs):
    seen = fake_scripts(monkeypatch, valid_f1_at=lambda rate: 1 - abs(np.log10(rate / 1e-3)))
    budget = Budget("tiny", 4, 1e-3, {"train_small.txt": 1}, (3e-4, 1e-3, 3e-3), (0, 1, 2))
    plan = Plan(budget, str(tmp_path), str(tmp_path / "work"), jobs=jobs)
    *_, records = run_benchmark(plan, ["transformer", "textcnn"])

    assert seen["most_at_once"] == jobs
    started = seen["started"]
    assert len(started) == 2 + 2 * 2 * (3 + 2)  # two bundles; per arm the sweep, two more seeds
    if jobs > 1:  # the bundles pretrain side by side
        assert set(started[:2]) == {"bundle_transformer_4steps", "bundle_textcnn_4steps"}
    chosen = {(r["backbone"], r["arm"], r["learning_rate"]) for r in records if r["chosen"]}
    assert chosen == {
        (backbone, arm, 1e-3) for backbone in ("transformer", "textcnn") for arm in ARMS
    } | {("none", "tfidf_lr", None)}
    for r in records:  # both arms of a backbone pool as that backbone declares
        if r["arm"] != "tfidf_lr":
            assert r["pooling"] == backbones.get(r["backbone"]).DEFAULT_POOLING


def test_a_slot_one_backbones_arms_leave_free_goes_to_the_others_runs(tmp_path, monkeypatch):
    seen = fake_scripts(monkeypatch, valid_f1_at=lambda rate: 1 - abs(np.log10(rate / 1e-3)))
    budget = Budget("tiny", 4, 1e-3, {"train_small.txt": 1}, (3e-4, 1e-3, 3e-3), (0, 1))
    plan = Plan(budget, str(tmp_path), str(tmp_path / "work"), jobs=3)
    list(run_benchmark(plan, ["transformer", "textcnn"]))

    fine_tuning_starts = [
        backbones
        for name, backbones in zip(seen["started"], seen["backbones_at_once"])
        if "bundle" not in name
    ]
    assert any({"transformer", "textcnn"} <= backbones for backbones in fine_tuning_starts)


def test_a_set_reusing_anothers_rates_runs_every_seed_at_the_rate_each_arm_chose_there(
    tmp_path, monkeypatch
):
    seen = fake_scripts(monkeypatch, valid_f1_at=lambda rate: 1 - abs(np.log10(rate / 3e-3)))
    budget = Budget(
        "tiny",
        4,
        1e-3,
        {"train_small.txt": 1, "train.txt": 1},
        (3e-4, 1e-3, 3e-3, 1e-2),
        (0, 1, 2),
        rates_from={"train.txt": "train_small.txt"},
    )
    plan = Plan(budget, str(tmp_path), str(tmp_path / "work"), jobs=2)
    *_, records = run_benchmark(plan, ["transformer"])

    large = [r for r in records if r["train_file"] == "train.txt" and r["arm"] in ARMS]
    assert sorted((r["arm"], r["seed"]) for r in large) == sorted(
        (arm, seed) for arm in ARMS for seed in (0, 1, 2)
    )
    assert all(r["learning_rate"] == 3e-3 and r["chosen"] and r["stage"] == "seed" for r in large)
    assert (
        sum("_train_pretrained" in name or "_train_scratch" in name for name in seen["started"])
        == 6
    )
    write_outputs(records, budget, ["transformer"], "the command", str(tmp_path / "report"))
    with open(tmp_path / "report.md", encoding="utf-8") as f:
        how_to_read = f.read()
    assert "picks it on valid mean-F1" in how_to_read
    assert "train.txt sweeps nothing: each arm runs every seed at the rate it chose on " in (
        how_to_read
    )


def test_unfinished_groups_name_each_backbone_and_size_without_results():
    budget = Budget("tiny", 4, 1e-3, {"train_small.txt": 1, "train.txt": 1}, (1e-3,), (0,))
    records = [
        record("transformer", "pretrained", 0, 0.5, [0.4]),
        record("transformer", "scratch", 0, 0.4, [0.3]),
        record("none", "tfidf_lr", 0, 0.45, [], lr=None, c=10.0),
        dict(record("transformer", "scratch", 0, 0.4, [0.3]), train_file="train.txt"),
    ]
    assert unfinished_groups(records, budget, ["transformer", "textcnn"]) == [
        ("textcnn", "train_small.txt"),
        ("textcnn", "train.txt"),
    ]


def test_missing_data_files_names_what_the_budget_reads(tmp_path):
    quick = benchmark.BUDGETS["quick"]
    (tmp_path / "pretrain.txt").write_text("a.\n", encoding="utf-8")
    (tmp_path / "valid.txt").write_text("a __label__x\n", encoding="utf-8")
    plan = Plan(quick, str(tmp_path), str(tmp_path / "work"))
    assert benchmark.missing_data_files(plan, ["transformer"]) == [
        str(tmp_path / "test.txt"),
        str(tmp_path / "train_small.txt"),
    ]
    corpus = str(tmp_path / "corpus.txt")
    elsewhere = Plan(quick, str(tmp_path), "work", pretrain_corpus=corpus)
    assert corpus in benchmark.missing_data_files(elsewhere, ["transformer"])
    # With every backbone's bundle given, nothing is pretrained: the corpus is not read.
    given = dataclasses.replace(elsewhere, pretrained_bundles={"transformer": "bundle"})
    assert corpus not in benchmark.missing_data_files(given, ["transformer"])
    assert corpus in benchmark.missing_data_files(given, ["transformer", "textcnn"])


def test_single_label_sweeps_choose_on_valid_accuracy_from_another_corpus(tmp_path, monkeypatch):
    seen = fake_scripts(monkeypatch, valid_f1_at=lambda rate: 1 - abs(np.log10(rate / 3e-3)))
    budget = Budget(
        "tiny", 4, 1e-3, {"train_small.txt": 1}, (1e-3, 3e-3), (0, 1), problem_type="single_label"
    )
    corpus = str(tmp_path / "tags" / "pretrain.txt")
    plan = Plan(
        budget, str(tmp_path / "sections"), str(tmp_path / "work"), 2, pretrain_corpus=corpus
    )
    *_, records = run_benchmark(plan, ["transformer"])

    assert seen["corpora"] == [corpus]
    runs = [r for r in records if r["arm"] != "tfidf_lr"]
    assert all(r["run"].endswith("_single_label") for r in runs)
    assert {r["learning_rate"] for r in runs if r["chosen"]} == {3e-3}
    assert all(r["problem_type"] == "single_label" and "test_accuracy" in r for r in runs)
    out = str(tmp_path / "report")
    report = write_outputs(records, budget, ["transformer"], "cmd", out)
    assert "test accuracy" in report and "micro-F1" not in report
    with open(out + "_confusion.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def summary_of(directory, backbone, steps):
    """Writes a stand-in bundle's `config.json`: what the benchmark and its report read."""
    figures = dict(start_loss=9.0, end_loss=5.0, start_accuracy=0.0, end_accuracy=0.25)
    summary = dict(
        steps=steps,
        epochs=1.0,
        batch_size=32,
        steps_per_second=3.0,
        padded_tokens_per_second=5000.0,
        tasks={"masked_lm": figures},
    )
    config = {
        "backbone": {"name": backbone, "config": {"hidden_dim": 128, "num_layers": 2}},
        "tokenizer": {"vocabulary_size": 100},
        "training_summary": summary,
        "files": {},
    }
    with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f)


def given_bundle(path, backbone, steps):
    """A stand-in for a bundle pretrained elsewhere: its config and vocabulary."""
    os.makedirs(path)
    summary_of(path, backbone, steps)
    (path / "vocab.txt").write_text("[PAD]\n", encoding="utf-8")
    return str(path)


def test_a_given_bundle_replaces_pretraining_and_lends_its_vocabulary(tmp_path, monkeypatch):
    """`--pretrained_bundle=transformer=PATH`: both Transformer arms start from PATH (pretrained
    runs named by its steps), the TextCNN is pretrained here with PATH's vocabulary and the
    extra pretraining flags, and every fine-tuning run gets the dropout asked for."""
    given = given_bundle(tmp_path / "elsewhere" / "bundle", "transformer", steps=4162)
    seen = fake_scripts(monkeypatch, valid_f1_at=lambda rate: 1 - abs(np.log10(rate / 1e-3)))
    monkeypatch.setattr(benchmark, "shared_vocabulary", SHARED_VOCABULARY)
    budget = Budget(
        "tiny",
        50,
        1e-3,
        {"train_small.txt": 1},
        (1e-3, 3e-3),
        (0,),
        pretrain_flags=("--tasks=masked_lm", "--dropout=0"),
        finetune_dropout=0.1,
    )
    plan = Plan(
        budget,
        str(tmp_path),
        str(tmp_path / "work"),
        jobs=2,
        pretrained_bundles={"transformer": given},
    )
    *_, records = run_benchmark(plan, ["transformer", "textcnn"])

    (pretraining,) = seen["pretraining_args"]  # the TextCNN's only
    assert "--backbone=textcnn" in pretraining
    assert f"--vocab_file={os.path.join(given, 'vocab.txt')}" in pretraining
    assert pretraining[-2:] == ["--tasks=masked_lm", "--dropout=0"]
    runs = [r for r in records if r["arm"] != "tfidf_lr"]
    for r in runs:
        with open(os.path.join(r["run"], "metrics.json"), encoding="utf-8") as f:
            args = json.load(f)["finetune_args"]
        assert "--dropout=0.1" in args
        if r["backbone"] == "transformer":
            assert f"--init_checkpoint={given}" in args
    names = {os.path.basename(r["run"]) for r in runs if r["arm"] == "pretrained"}
    assert "transformer_train_small_pretrained4162_lr0.001_s0" in names
    assert "textcnn_train_small_pretrained50_maxpool_lr0.001_s0" in names
    write_outputs(records, budget, ["transformer", "textcnn"], "cmd", str(tmp_path / "report"))
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| transformer | 2 × 128 | masked_lm | 4162 (1.0) |" in report
    assert "| textcnn | 2 × 128 | masked_lm | 50 (1.0) |" in report
    assert f"- `{os.path.realpath(given)}`" in report
    # Runs reused through a symlink name the same bundle another way: listed once.
    os.symlink(given, tmp_path / "alias")
    aliased = [dict(r, bundle=str(tmp_path / "alias")) for r in runs if r["bundle"] == given]
    write_outputs(
        records + aliased, budget, ["transformer", "textcnn"], "cmd", str(tmp_path / "r2")
    )
    report = (tmp_path / "r2.md").read_text(encoding="utf-8")
    assert report.count("| transformer | 2 × 128 | masked_lm | 4162 (1.0) |") == 1
    assert "alias" not in report


@pytest.mark.parametrize(
    "specs, message",
    [
        (["transformer"], "expected BACKBONE=PATH"),
        (["bert=x"], "'bert' is not one of --backbones"),
        (["transformer={b}", "transformer={b}"], "transformer given twice"),
        (["transformer={missing}"], "no config.json"),
        (["textcnn={b}"], "the bundle holds a transformer backbone"),
    ],
)
def test_given_bundles_are_checked(tmp_path, specs, message):
    paths = dict(b=given_bundle(tmp_path / "b", "transformer", 10), missing=str(tmp_path / "m"))
    with pytest.raises(ValueError, match=message):
        inputs.parse_pretrained_bundles(
            [spec.format(**paths) for spec in specs], ["transformer", "textcnn"]
        )
    assert inputs.parse_pretrained_bundles([f"transformer={paths['b']}"], ["transformer"]) == {
        "transformer": paths["b"]
    }


def test_a_variant_gets_its_own_work_directory_named_by_its_inputs(tmp_path):
    base = str(tmp_path / "full")
    assert inputs.variant_work_dir(base, dict(vocab_file="", finetune_dropout=None)) == base
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text("[PAD]\na\n", encoding="utf-8")
    settings = dict(vocab_file=str(vocabulary), pretrain_flags=("--dropout=0",))
    variant = inputs.variant_work_dir(base, settings)
    assert variant.startswith(base + "_") and variant == inputs.variant_work_dir(base, settings)
    with open(os.path.join(variant, inputs.VARIANT_FILE), encoding="utf-8") as f:
        recorded = json.load(f)
    assert recorded["pretrain_flags"] == ["--dropout=0"]
    assert recorded["vocab_file"]["file"] == str(vocabulary)
    vocabulary.write_text("[PAD]\nb\n", encoding="utf-8")  # same path, other contents
    assert inputs.variant_work_dir(base, settings) != variant


def test_a_character_reference_is_fitted_apart_recorded_and_named_in_the_report(
    tmp_path, monkeypatch
):
    asked = []

    def fake_baseline(*files, jobs, features):
        asked.append(features)
        scores = dict(micro_f1=0.5, macro_f1=0.2, mean_f1=0.35)
        return dict(c=10.0, tried=[], valid=scores, test=scores, wall_seconds=1.0)

    monkeypatch.setattr(benchmark, "run_tfidf_baseline", fake_baseline)
    budget = Budget("tiny", 4, 1e-3, {"train_small.txt": 1}, (1e-3,), (0,))
    work = tmp_path / "work"
    work.mkdir()
    words = Plan(budget, str(tmp_path), str(work))
    characters = dataclasses.replace(words, tfidf_features="char")

    word_record = benchmark.tfidf_record("train_small.txt", words)
    char_record = benchmark.tfidf_record("train_small.txt", characters)
    benchmark.tfidf_record("train_small.txt", characters)  # read back, not fitted again
    assert asked == ["word", "char"]
    assert (word_record["features"], char_record["features"]) == ("word", "char")
    assert sorted(os.listdir(work)) == [
        "tfidf_lr_train_small.json",
        "tfidf_lr_train_small_char.json",
    ]
    out = str(tmp_path / "report")
    write_outputs([char_record], budget, ["transformer"], "cmd", out)
    with open(out + ".md", encoding="utf-8") as f:
        assert "TF-IDF (character 1-3-grams within words)" in f.read()


def recorded_bundle(directory, **settings):
    """A bundle directory whose pretraining run recorded `settings` as train_bert_lm.py does."""
    config = PretrainConfig(output_dir=str(directory), **settings)
    checkpoint_dir = os.path.join(str(directory), "checkpoints")
    os.makedirs(checkpoint_dir)
    run_state.record_run(
        checkpoint_dir, run_state.run_settings(config, PretrainConfig.RESUMABLE_CHANGES)
    )
    return str(directory)


def test_a_bundle_pretrained_with_other_flags_is_told_apart_paths_aside(tmp_path):
    bundle = recorded_bundle(
        tmp_path / "b", learning_rate=1e-3, tasks=("masked_lm",), deterministic=True, corpus="a"
    )
    same = ["--learning_rate=0.001", "--tasks=masked_lm", "--deterministic", "--corpus=elsewhere"]
    assert inputs.differing_pretraining_flags(bundle, same) == []
    assert inputs.differing_pretraining_flags(bundle, ["--learning_rate=1e-3", "--dropout=0"]) == []
    assert inputs.differing_pretraining_flags(
        bundle, ["--learning_rate=0.001", "--learning_rate=2e-3", "--nodeterministic"]
    ) == [
        "--learning_rate=2e-3, but the bundle was pretrained with 0.001",
        "--deterministic=false, but the bundle was pretrained with True",
    ]
    assert inputs.differing_pretraining_flags(bundle, ["--tasks=masked_lm,next_sentence"])
    assert inputs.differing_pretraining_flags(str(tmp_path / "none"), ["--learning_rate=1"]) == []


def test_a_work_directory_of_an_earlier_recipe_is_refused_by_name(tmp_path, monkeypatch, capsys):
    """A bundle is reused by its name (backbone and steps): one pretrained at another peak rate
    must stop the benchmark before any run, with the bundle and the flag named."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for name in ("pretrain.txt", "train_small.txt", "valid.txt", "test.txt"):
        (data_dir / name).write_text("a __label__x\n", encoding="utf-8")
    work_dir = tmp_path / "work"
    budget = benchmark.BUDGETS["quick"]
    bundle_path = work_dir / "quick" / f"bundle_transformer_{budget.pretrain_steps}steps"
    recorded_bundle(bundle_path, learning_rate=budget.pretrain_learning_rate / 2)
    monkeypatch.setattr(
        sys,
        "argv",
        ["prog", f"--data_dir={data_dir}", f"--work_dir={work_dir}", "--budget=quick"],
    )
    monkeypatch.setattr(benchmark, "run_benchmark", lambda *a: pytest.fail("runs started"))
    with pytest.raises(SystemExit):
        benchmark.main()
    error = capsys.readouterr().err
    assert (
        f"{bundle_path}: --learning_rate=0.001, but the bundle was pretrained with 0.0005" in error
    )
    assert "give another --work_dir" in error


def test_the_tokenizer_flags_among_the_pretraining_flags_are_read_typed():
    flags = ["--cjk_split=script_run", "--nolower_case", "--vocab_size=100", "--learning_rate=1"]
    assert inputs.vocabulary_settings(flags) == {
        "cjk_split": "script_run",
        "lower_case": False,
        "vocab_size": 100,
    }


def test_the_shared_vocabulary_is_learned_with_the_budgets_tokenizer_flags(tmp_path):
    """`--pretrain_flags=--cjk_split=script_run` must reach the vocabulary both arms share,
    else the bundles would record a split their vocabulary was not learned with."""
    (tmp_path / "pretrain.txt").write_text(
        "東京大学で勉強する。\n大学は東京にある。\n" * 20, "utf-8"
    )
    budget = Budget(
        "tiny",
        50,
        1e-3,
        {"train_small.txt": 1},
        (1e-3,),
        (0,),
        pretrain_flags=("--cjk_split=script_run",),
    )
    plan = Plan(budget, str(tmp_path), str(tmp_path / "work"), jobs=1)
    with open(SHARED_VOCABULARY(plan), encoding="utf-8") as f:
        vocabulary = f.read().split("\n")
    assert "東京" in vocabulary and "大学" in vocabulary
