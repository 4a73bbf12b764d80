"""`--dtype_policy=mixed_bfloat16`: bfloat16 compute with float32 weights, losses and
classifier head, for both stages and every backbone; the policy is the run's alone."""

import os

import finetuning_support as support
import keras
import numpy as np
import pytest

import backbones
from bert_tf import bundle, weights_file
from bert_tf.errors import InputError
from bert_tf.finetuning import FinetuneConfig, run_finetuning
from bert_tf.run_state import dtype_policy

BACKBONE_NAMES = sorted(backbones.BACKBONES)


@pytest.mark.parametrize("backbone_name", BACKBONE_NAMES)
def test_a_mixed_bfloat16_run_trains_both_stages_keeps_float32_weights_and_restores_the_policy(
    tmp_path, backbone_name
):
    bundle_dir = support.make_tiny_bundle(tmp_path, backbone_name, dtype_policy="mixed_bfloat16")
    assert keras.config.dtype_policy().name == "float32"
    summary = support.read_config(bundle_dir)["training_summary"]
    for task in backbones.get(backbone_name).DEFAULT_PRETRAIN_TASKS:
        losses = summary["tasks"][task]
        assert np.isfinite(losses["start_loss"]) and np.isfinite(losses["end_loss"])
    weights = weights_file.read_weights(os.path.join(bundle_dir, bundle.BACKBONE_WEIGHTS_FILE))
    assert {str(array.dtype) for array in weights.values()} == {"float32"}

    results = run_finetuning(
        FinetuneConfig(
            **support.labeled_files(tmp_path / "labeled"),
            output_dir=str(tmp_path / "finetuned"),
            init_checkpoint=bundle_dir,
            epochs=1,
            batch_size=8,
            max_seq_length=32,
            dtype_policy="mixed_bfloat16",
        )
    )
    assert keras.config.dtype_policy().name == "float32"
    assert all(np.isfinite(entry["train_loss"]) for entry in results["history"])
    assert 0.0 <= results["test"]["micro_f1"] <= 1.0 and np.isfinite(results["test"]["loss"])


@pytest.mark.parametrize("tasks", [("masked_lm", "next_sentence"), ("replaced_token_detection",)])
def test_every_pretraining_task_takes_its_loss_in_float32_under_mixed_bfloat16(tmp_path, tasks):
    bundle_dir = support.make_tiny_bundle(
        tmp_path, "transformer", tasks=tasks, num_train_steps=3, dtype_policy="mixed_bfloat16"
    )
    summary = support.read_config(bundle_dir)["training_summary"]
    for task in tasks:
        assert np.isfinite(summary["tasks"][task]["end_loss"])


def test_the_policy_is_restored_when_the_body_fails():
    with pytest.raises(RuntimeError):
        with dtype_policy("mixed_bfloat16"):
            assert keras.config.dtype_policy().name == "mixed_bfloat16"
            raise RuntimeError("a run that failed")
    assert keras.config.dtype_policy().name == "float32"


def test_a_mixed_transformer_computes_in_bfloat16_close_to_float32(
    tiny_backbone_config_factory, inputs_factory
):
    config = tiny_backbone_config_factory("transformer")
    inputs = inputs_factory([7, 12, 3], sequence_length=12)
    keras.utils.set_random_seed(0)
    exact = backbones.build("transformer", config)
    expected = exact(inputs)["sequence_output"]
    with dtype_policy("mixed_bfloat16"):
        keras.utils.set_random_seed(0)
        mixed = backbones.build("transformer", config)
        mixed.set_weights(exact.get_weights())
        got = mixed(inputs)["sequence_output"]
    assert keras.backend.standardize_dtype(got.dtype) == "bfloat16"
    assert all(str(w.dtype) == "float32" for w in mixed.weights)
    mask = np.asarray(inputs["padding_mask"], bool)
    difference = np.abs(np.asarray(keras.ops.cast(got, "float32")) - np.asarray(expected))[mask]
    assert difference.max() < 0.15 and difference.mean() < 0.02


def test_an_unknown_policy_is_a_clean_error():
    with pytest.raises(InputError, match="--dtype_policy=mixed_float8"):
        FinetuneConfig(dtype_policy="mixed_float8").validate()
