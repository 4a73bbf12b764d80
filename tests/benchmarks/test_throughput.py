"""The throughput benchmark: a smoke run end to end on the shipped sample, and the FLOP count."""

import importlib.util
import json
import math
import os

import keras
import pytest

import backbones
from benchmarks import keras_hub_reference as hub
from benchmarks import throughput
from bert_tf import run_state

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECTIONS = (
    "settings",
    "environment",
    "matmul_peak",
    "vocabulary",
    "token_stats",
    "flops_per_token",
    "training",
    "training_summary",
    "ratios",
    "parts",
    "cost",
    "targets",
    "wall_seconds",
)
TRANSFORMER = dict(hidden_dim=128, num_layers=2, intermediate_dim=512, vocabulary_size=8000)


def _numbers(value):
    """Every number inside a JSON value."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, (int, float)):
        return [value]
    items = value.values() if isinstance(value, dict) else value
    return [number for item in items for number in _numbers(item)]


@pytest.mark.slow
def test_smoke_run_writes_every_section(tmp_path):
    try:
        import keras_hub  # noqa: F401

        with_keras_hub = True
    except ImportError:
        with_keras_hub = False
    out = str(tmp_path / "throughput")
    throughput.main(
        [
            f"--data_dir={os.path.join(ROOT, 'data')}",
            "--corpus_file=corpus.txt",
            "--train_file=train.txt",
            f"--out={out}",
            "--smoke",
            "--skip_vocabulary",
            "--steps=3",
            "--warmup_steps=2",
            "--rounds=1",
        ]
    )
    with open(out + ".json", encoding="utf-8") as f:
        results = json.load(f)
    assert set(SECTIONS) <= set(results)
    numbers = _numbers({key: results[key] for key in SECTIONS if key != "settings"})
    assert numbers and all(math.isfinite(n) for n in numbers)
    measured = ("matmul_peak", "token_stats", "training", "training_summary", "parts", "cost")
    assert all(n > 0 for n in _numbers({key: results[key] for key in measured}))
    assert all(record["timed_steps"] == 3 for record in results["training"])
    engines = {(r["engine"], r["backbone"]) for r in results["training"]}
    assert {("project", "transformer"), ("project", "textcnn")} <= engines
    assert (("keras_hub", "transformer") in engines) == with_keras_hub
    assert len(results["ratios"]) == (3 if with_keras_hub else 0)  # corpus, packed, full
    assert {"project_real", "project_packed", "project_full"} <= set(results["token_stats"])
    inputs = {(r["engine"], r["input"]) for r in results["training"]}
    assert ("project", "packed") in inputs and ("keras_hub", "packed") not in inputs
    if with_keras_hub:
        by_input = {r["input"]: r for r in results["ratios"]}
        ours = throughput.find_row(
            results["training_summary"], "project", "transformer", "tiny", "packed"
        )
        theirs = throughput.find_row(
            results["training_summary"], "keras_hub", "transformer", "tiny", "real"
        )
        expected = ours["useful_tokens_per_second"] / theirs["useful_tokens_per_second"]
        assert by_input["packed"]["ratio"] == pytest.approx(expected)
    assert results["matmul_peak"]["gflops"] > 0
    assert results["parts"]["input_pipeline"]["ratio_to_tiny_step"] > 0
    assert results["parts"]["finetuning"]["examples_per_second"] > 0
    assert results["parts"]["prediction"]["texts_per_second"] > 0
    assert len(results["cost"]["by_length"]) == 2 and len(results["cost"]["by_batch"]) == 2
    with open(out + ".md", encoding="utf-8") as f:
        report = f.read()
    for target in ("≥ 1.3×", "≥ 2×", "≥ 65%", "≥ 10×", "≤ keras-hub"):
        assert target in report
    assert "python -m benchmarks.throughput" in report and "## What this shows" in report
    assert os.path.getsize(out + ".png") > 0


def _body_per_token(length=128, **changes):
    """Transformer FLOPs per token without the masked-LM head (no predictions)."""
    config = dict(TRANSFORMER, **changes)
    flops = throughput.forward_flops_per_sequence("transformer", config, length, predictions=0)
    return flops / length


def test_transformer_flops_grow_with_width_squared():
    layers, h, s = 2, 128, 128
    assert _body_per_token(intermediate_dim=0) == layers * (8 * h * h + 4 * s * h)
    # Doubling H quadruples the H² terms (projections, feed-forward) and doubles 4·S·H.
    ratio = _body_per_token(hidden_dim=2 * h, intermediate_dim=8 * h) / _body_per_token()
    h_squared, attention = 8 * h * h + 4 * h * 4 * h, 4 * s * h
    assert ratio == pytest.approx((4 * h_squared + 2 * attention) / (h_squared + attention))


def test_transformer_attention_flops_per_token_are_proportional_to_length():
    step = _body_per_token(256) - _body_per_token(128)
    assert step == 2 * (_body_per_token(128) - _body_per_token(64))
    assert step == 2 * 4 * 128 * 128  # layers × 4·ΔS·H


def test_head_flops_are_spread_over_the_sequence():
    config = dict(TRANSFORMER, num_layers=0)
    per_token = throughput.flops_per_token("transformer", config, 128)["forward"]
    h, v, p = 128, 8000, throughput.PREDICTIONS
    assert per_token == pytest.approx(p / 128 * (2 * 128 * h + 2 * h * h + 2 * h * v))


def test_flops_match_the_issue_estimate_for_mini():
    config = dict(TRANSFORMER, hidden_dim=256, num_layers=4, intermediate_dim=1024)
    training = throughput.flops_per_token("transformer", config, 128)["training"]
    assert training == pytest.approx(22.46e6, rel=1e-3)  # "roughly 23 MFLOP a token"


def test_textcnn_flops_sum_the_kernel_widths():
    config = dict(hidden_dim=4, num_layers=1, filters=2, kernel_sizes=[3, 5], vocabulary_size=0)
    body = throughput.forward_flops_per_sequence("textcnn", config, 10, predictions=0) / 10
    assert body == 2 * 3 * 4 * 2 + 2 * 5 * 4 * 2 + 2 * (2 * 2) * 4


def test_step_clock_times_between_the_marks_it_got():
    clock = throughput.StepClock()
    clock.marks = [(1, 0.0), (50, 5.0), (100, 10.0), (150, 12.0), (160, 13.0)]
    assert clock.rate(100) == (60 / 3.0, 60)
    with pytest.raises(RuntimeError):
        clock.rate(160)


def test_matmul_peak_in_the_policy_compute_precision():
    peak = throughput.matmul_peak((32,), 2, "bfloat16", repeats=1)
    assert peak["dtype"] == "bfloat16" and peak["gflops"] > 0


def test_both_engines_build_under_the_run_dtype_policy():
    plan = throughput.Plan(**throughput.SMOKE)
    config = throughput.model_config("transformer", 400, "tiny", plan)
    engines = {"project": lambda: backbones.build("transformer", config)}
    if importlib.util.find_spec("keras_hub"):
        engines["keras_hub"] = lambda: hub.masked_lm_model(config, 1e-3, 0.01).backbone
    for engine, build in engines.items():
        with run_state.dtype_policy("mixed_bfloat16"):
            model = build()
        assert model.dtype_policy.name == "mixed_bfloat16", engine
        assert keras.config.dtype_policy().name == "float32"
