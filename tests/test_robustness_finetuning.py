"""train_bert_fine_tuning.py under bad input, broken bundles and kill -9: a clear message (file
and line where one applies), exit status 2 and no traceback; odd but valid input still runs.

Most cases run the real script in a subprocess, as a user would. Every subprocess pays for a
TensorFlow import (10+ s on a loaded 2-core machine), so variants of a case already covered
there (another broken line, another missing bundle file, another bad number) call
`run_finetuning` in-process and check the same InputError message; the script turns any
InputError into that message and exit status 2. Also the trainer's NaN guard."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import finetuning_support as support
import keras
import numpy as np
import pytest
import tensorflow as tf
from finetuning_support import assert_clean_error, checkpoint_step, run_script  # noqa: E402
from tiny_configs import tiny_flags, tiny_overrides

from bert_tf import backbone_source, bundle
from bert_tf.classifier_bundle import load_classifier
from bert_tf.errors import InputError, TrainingError
from bert_tf.finetuning import FinetuneConfig, run_finetuning
from bert_tf.pretraining import PretrainConfig
from bert_tf.trainer import Trainer

SCRIPT = "train_bert_fine_tuning.py"


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny, valid transformer bundle (untrained: these tests are about its files); tests
    change copies of it."""
    return support.make_untrained_bundle(tmp_path_factory.mktemp("pretrained") / "bundle")


@pytest.fixture
def bundle_copy(pretrained, tmp_path):
    copy = str(tmp_path / "bundle")
    shutil.copytree(pretrained, copy)
    return copy


@pytest.fixture
def files(tmp_path):
    """40 train, 16 valid and 16 test lines of the shipped sample."""
    return support.labeled_files(tmp_path / "data", train=40, valid=16, test=16)


def finetune_args(files, output_dir, *extra, init_checkpoint=""):
    """One epoch of a tiny transformer; with no bundle unless `init_checkpoint` is given (the
    bundle then brings its architecture and vocabulary)."""
    architecture = ["--backbone=transformer", *tiny_flags("transformer"), "--vocab_size=150"]
    return [
        f"--train_file={files['train_file']}",
        f"--valid_file={files['valid_file']}",
        f"--test_file={files['test_file']}",
        f"--output_dir={output_dir}",
        f"--init_checkpoint={init_checkpoint}",
        *([] if init_checkpoint else architecture),
        "--max_seq_length=32",
        "--batch_size=8",
        "--epochs=1",
        "--learning_rate=1e-3",
        *extra,
    ]


def finetune_in_process(files, output_dir, **changes):
    """What `finetune_args` asks of the script, as a direct call."""
    settings = dict(
        files,
        output_dir=str(output_dir),
        init_checkpoint="",
        backbone="transformer",
        backbone_overrides=tiny_overrides("transformer"),
        vocab_size=150,
        max_seq_length=32,
        batch_size=8,
        epochs=1,
        learning_rate=1e-3,
    )
    settings.update(changes)
    return run_finetuning(FinetuneConfig(**settings))


def read_metrics(output_dir):
    with open(os.path.join(output_dir, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)


def assert_completed(result, output_dir, epochs=1):
    """Exit 0, metrics.json with one history entry per epoch, and a model directory."""
    assert result.returncode == 0, result.stderr[-3000:]
    results = read_metrics(output_dir)
    assert [h["epoch"] for h in results["history"]] == list(range(1, epochs + 1))
    for name in (bundle.CONFIG_FILE, bundle.VOCABULARY_FILE, "classifier.weights.h5"):
        assert os.path.isfile(os.path.join(output_dir, "model", name)), name
    return results


def replace_line(path, number, content: bytes):
    """Replaces line `number` (1-based) of a file with `content`, bytes as given."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    lines[number - 1] = content
    with open(path, "wb") as f:
        f.write(b"\n".join(lines))


# --- the train file --------------------------------------------------------------------------


BAD_LINES = {
    "no_label": (3, b"a line with text and no label at all", [":3:", "no __label__"]),
    "only_labels": (2, b"__label__topic::audio  __label__topic::science", [":2:", "no text"]),
    "invalid_utf8": (4, b"caf\xe9 latin-1 text __label__topic::audio", [":4:", "UTF-8"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", ["missing", "no_label", "invalid_utf8"])
def test_bad_train_file_is_named(tmp_path, files, case):
    train = files["train_file"]
    if case == "missing":
        os.remove(train)
        fragments = ["not found"]
    else:
        number, content, fragments = BAD_LINES[case]
        replace_line(train, number, content)
    result = run_script(SCRIPT, *finetune_args(files, tmp_path / "out"))
    assert_clean_error(result, train, *fragments)


@pytest.mark.parametrize("case", ["empty", "blank", "only_labels"])
def test_bad_train_file_is_named_in_process(tmp_path, files, case):
    train = files["train_file"]
    if case == "empty":
        open(train, "wb").close()
        fragments = ["empty"]
    elif case == "blank":
        with open(train, "w", encoding="utf-8") as f:
            f.write("\n  \n\t\n")
        fragments = ["only blank lines"]
    else:
        number, content, fragments = BAD_LINES[case]
        replace_line(train, number, content)
    with pytest.raises(InputError) as error:
        finetune_in_process(files, tmp_path / "out")
    for fragment in [train, *fragments]:
        assert fragment in str(error.value)


@pytest.mark.slow
def test_messy_but_valid_files_run(tmp_path, files):
    """CRLF line ends, a 1 MB line, a line with no label and one with no text (skipped and
    counted under --skip_invalid_lines), and a valid label train never had: the run completes
    and warns about what it skipped and what it cannot predict."""
    train, valid = files["train_file"], files["valid_file"]
    words = ("lossless audio recorder waveform microphone " * 25000).encode()
    assert len(words) > 1_000_000
    replace_line(train, 6, words + b" __label__topic::audio")
    replace_line(train, 3, b"a line with text and no label at all")
    replace_line(train, 5, b"  __label__topic::audio")
    with open(valid, "a", encoding="utf-8") as f:
        f.write("a tool for nothing known __label__never::seen\n")
    for path in files.values():
        with open(path, "rb") as f:
            content = f.read()
        with open(path, "wb") as f:
            f.write(content.replace(b"\n", b"\r\n"))
    output = tmp_path / "out"
    result = run_script(SCRIPT, *finetune_args(files, output, "--skip_invalid_lines"))
    results = assert_completed(result, output)
    assert f"{train}: skipped 2 lines (1 with no label, 1 with no text)" in result.stderr
    assert "never seen in the train file" in result.stderr and "never::seen" in result.stderr
    assert results["unseen_labels"] == {"valid": {"never::seen": 1}}
    _, _, config = load_classifier(str(output / "model"))
    labels = config["classifier"]["labels"]
    # Labels end the lines: a stray "\r" would make "audio\r" a label of its own.
    assert labels and not [name for name in labels if name != name.strip()]


@pytest.mark.slow
def test_missing_bundle_directory(tmp_path, files):
    missing = tmp_path / "no_such_bundle"
    result = run_script(SCRIPT, *finetune_args(files, tmp_path / "out", init_checkpoint=missing))
    assert_clean_error(result, missing, "no such directory")


def damage_bundle(bundle_dir, damage):
    weights = os.path.join(bundle_dir, bundle.BACKBONE_WEIGHTS_FILE)
    if damage == "delete_weights":
        os.remove(weights)
        return f"{bundle.BACKBONE_WEIGHTS_FILE} is missing"
    if damage == "truncate_weights":
        os.truncate(weights, os.path.getsize(weights) // 2)
        return "checksum"
    os.remove(os.path.join(bundle_dir, bundle.CONFIG_FILE))
    return f"no {bundle.CONFIG_FILE}"


@pytest.mark.slow
def test_half_written_bundle(tmp_path, files, bundle_copy):
    fragment = damage_bundle(bundle_copy, "truncate_weights")
    result = run_script(
        SCRIPT, *finetune_args(files, tmp_path / "out", init_checkpoint=bundle_copy)
    )
    assert_clean_error(result, bundle_copy, bundle.BACKBONE_WEIGHTS_FILE, fragment)


@pytest.mark.parametrize("damage", ["delete_weights", "delete_config"])
def test_half_written_bundle_in_process(tmp_path, files, bundle_copy, damage):
    fragment = damage_bundle(bundle_copy, damage)
    with pytest.raises(InputError) as error:
        finetune_in_process(files, tmp_path / "out", init_checkpoint=bundle_copy)
    assert bundle_copy in str(error.value) and fragment in str(error.value)


def name_unknown_backbone(bundle_dir):
    config = support.read_config(bundle_dir)
    config["backbone"]["name"] = "lstm"
    support.write_config(bundle_dir, config)  # its own checksum is not recorded anywhere


@pytest.mark.slow
def test_bundle_naming_an_unknown_backbone(tmp_path, files, bundle_copy):
    name_unknown_backbone(bundle_copy)
    result = run_script(
        SCRIPT, *finetune_args(files, tmp_path / "out", init_checkpoint=bundle_copy)
    )
    assert_clean_error(result, "lstm", "transformer", "textcnn")


def test_unknown_backbone_message_names_the_bundle(tmp_path, files, bundle_copy):
    name_unknown_backbone(bundle_copy)
    with pytest.raises(InputError, match="lstm") as error:
        finetune_in_process(files, tmp_path / "out", init_checkpoint=bundle_copy)
    assert bundle_copy in str(error.value)


def test_flags_that_contradict_the_bundle_are_an_error_naming_both(tmp_path, files, bundle_copy):
    """The common case the default --init_checkpoint makes: asking for another backbone or
    size while a bundle is given ends with exit 2, not a silent run of the bundle's model."""
    result = run_script(
        SCRIPT,
        *finetune_args(files, tmp_path / "out", "--backbone=textcnn", init_checkpoint=bundle_copy),
        "--hidden_dim=64",
        "--num_heads=2",  # agrees with the bundle: not reported
    )
    assert_clean_error(
        result,
        "--backbone=textcnn (the bundle's backbone is transformer)",
        "--hidden_dim=64 (the bundle's transformer has hidden_dim=16)",
        bundle_copy,
    )
    assert "--num_heads" not in result.stderr
    assert not os.path.exists(tmp_path / "out" / "metrics.json")


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"model_size": "mini"}, "--model_size=mini (the bundle's transformer has hidden_dim=16"),
        ({"tokenizer": "whitespace"}, "--tokenizer=whitespace (the bundle's is wordpiece)"),
        ({"cjk_split": "script_run"}, "--cjk_split=script_run (the bundle's is character)"),
        ({"backbone_overrides": {"filters": 8}}, "--filters=8 (the bundle's transformer has no"),
    ],
)
def test_each_contradicting_setting_is_named(tmp_path, files, bundle_copy, changes, fragment):
    settings = {"backbone": None, "backbone_overrides": {}, "vocab_size": None, **changes}
    with pytest.raises(InputError, match="contradict the bundle") as error:
        finetune_in_process(files, tmp_path / "out", init_checkpoint=bundle_copy, **settings)
    assert fragment in str(error.value)


def test_dropout_applies_over_the_bundle_instead_of_contradicting_it(bundle_copy):
    """Dropout shapes no weight: a bundle pretrained without it fine-tunes with it."""
    config = FinetuneConfig(max_seq_length=32, backbone_overrides={"dropout": 0.3})
    source = backbone_source.from_bundle(config, bundle_copy)
    assert source.config["dropout"] == 0.3
    saved = bundle.read_bundle_config(bundle_copy)["backbone"]["config"]
    assert {k: v for k, v in source.config.items() if k != "dropout"} == {
        k: v for k, v in saved.items() if k != "dropout"
    }
    with pytest.raises(InputError, match="--hidden_dim=64"):
        backbone_source.from_bundle(
            FinetuneConfig(
                max_seq_length=32, backbone_overrides={"dropout": 0.3, "hidden_dim": 64}
            ),
            bundle_copy,
        )


def test_unset_dropout_is_each_stages_default_over_the_bundle_and_the_preset(bundle_copy):
    """Pretraining runs without dropout and fine-tuning with it unless --dropout says."""
    fine_tuning = backbone_source.from_bundle(FinetuneConfig(max_seq_length=32), bundle_copy)
    pretraining = backbone_source.from_bundle(PretrainConfig(max_seq_length=32), bundle_copy)
    assert (fine_tuning.config["dropout"], pretraining.config["dropout"]) == (0.1, 0.0)
    tokenizer = bundle.load_tokenizer(bundle_copy, bundle.read_bundle_config(bundle_copy))
    fresh = backbone_source.new_backbone(PretrainConfig(), tokenizer)
    assert fresh.config["dropout"] == 0.0


@pytest.mark.slow
def test_vocabulary_that_does_not_fit_the_weights(tmp_path, files, bundle_copy):
    vocabulary_path = os.path.join(bundle_copy, bundle.VOCABULARY_FILE)
    with open(vocabulary_path, encoding="utf-8") as f:
        vocabulary = f.read().splitlines()
    with open(vocabulary_path, "w", encoding="utf-8") as f:
        f.write("".join(token + "\n" for token in vocabulary[:-10]))
    support.refresh_checksum(bundle_copy, bundle.VOCABULARY_FILE)
    result = run_script(
        SCRIPT, *finetune_args(files, tmp_path / "out", init_checkpoint=bundle_copy)
    )
    assert_clean_error(
        result,
        bundle_copy,
        bundle.VOCABULARY_FILE,
        f"{len(vocabulary) - 10} tokens but the config expects {len(vocabulary)}",
    )


# --- flags -----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "flag, fragments",
    [
        ("--batch_size=0", ["--batch_size=0"]),
        ("--max_seq_length=2", ["--max_seq_length=2", "at least 3"]),
    ],
)
def test_bad_flags(tmp_path, files, flag, fragments):
    result = run_script(SCRIPT, *finetune_args(files, tmp_path / "out", flag))
    assert_clean_error(result, *fragments)


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"batch_size": -4}, "--batch_size=-4"),
        ({"epochs": 0}, "--epochs=0"),
        ({"learning_rate": -1e-3}, "--learning_rate=-0.001"),
    ],
)
def test_bad_settings_in_process(tmp_path, files, changes, fragment):
    with pytest.raises(InputError, match=fragment):
        finetune_in_process(files, tmp_path / "out", **changes)
    # Rejected before anything is written: the same output dir works with good settings.
    assert not os.path.exists(tmp_path / "out" / "checkpoints" / "run.json")


# --- kill -9 ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_kill_9_then_the_same_command_completes(tmp_path):
    files = support.labeled_files(tmp_path / "data", train=100, valid=16, test=16)
    output = tmp_path / "run"
    epochs, steps_per_epoch = 40, 13  # ceil(100 / 8)
    args = [
        arg if arg != "--epochs=1" else f"--epochs={epochs}" for arg in finetune_args(files, output)
    ]
    process = subprocess.Popen(
        [sys.executable, os.path.join(support.ROOT, SCRIPT), *args],
        cwd=support.ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while checkpoint_step(output / "checkpoints") < steps_per_epoch and time.time() < deadline:
        if process.poll() is not None:
            pytest.fail("the run ended before it could be killed")
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = checkpoint_step(output / "checkpoints")
    assert steps_per_epoch <= killed_at < epochs * steps_per_epoch
    assert not (output / "metrics.json").exists()

    result = run_script(SCRIPT, *args)
    assert "resumed from" in result.stderr, result.stderr[-3000:]
    results = assert_completed(result, output, epochs=epochs)
    assert results["steps"] == epochs * steps_per_epoch
    assert checkpoint_step(output / "checkpoints") == epochs * steps_per_epoch
    model, _, config = load_classifier(str(output / "model"))
    assert len(config["classifier"]["labels"]) == model.output_layer.units


# --- the NaN guard ---------------------------------------------------------------------------


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="dense")])
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build(model.trainable_variables)
    poisoned_step = 3

    def loss_fn(batch, training=False):
        loss = tf.reduce_mean(tf.square(model(batch["x"], training=training) - batch["y"]))
        return tf.where(batch["poison"][0] > 0, tf.constant(np.nan, tf.float32), loss), {}

    rng = np.random.default_rng(0)
    steps = 6
    dataset = tf.data.Dataset.from_tensor_slices(
        {
            "x": rng.normal(size=(steps, 2, 3)).astype(np.float32),
            "y": rng.normal(size=(steps, 2, 1)).astype(np.float32),
            "token_ids": np.ones((steps, 2, 4), np.int32),
            "padding_mask": np.ones((steps, 2, 4), np.int32),
            "poison": np.array([[i + 1 == poisoned_step] * 2 for i in range(steps)], np.float32),
        }
    ).repeat()
    checkpoint_dir = str(tmp_path / "checkpoints")
    os.makedirs(checkpoint_dir)  # the callers of Trainer make it (run_state.prepare_checkpoint_dir)
    trainer = Trainer(
        model,
        optimizer,
        loss_fn,
        tf.distribute.get_strategy(),
        checkpoint_dir,
        str(tmp_path / "logs"),
    )
    seen = {}

    def on_step(step, step_metrics):
        seen[step] = (step_metrics["loss"], [w.numpy().copy() for w in model.weights])

    with pytest.raises(TrainingError, match=f"at step {poisoned_step}") as error:
        trainer.train(dataset, steps, checkpoint_every=2, on_step=on_step)
    assert "ckpt-2" in str(error.value)
    assert sorted(seen) == [1, 2] and all(np.isfinite(loss) for loss, _ in seen.values())
    assert trainer.manager.latest_checkpoint.endswith("ckpt-2")
    assert checkpoint_step(checkpoint_dir) == 2
    assert not [name for name in os.listdir(checkpoint_dir) if name.startswith("ckpt-3")]

    # A new trainer resumes from step 2 with the weights step 2 left.
    fresh = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="dense")])
    fresh_optimizer = keras.optimizers.SGD(0.1)
    fresh_optimizer.build(fresh.trainable_variables)
    resumed = Trainer(
        fresh,
        fresh_optimizer,
        loss_fn,
        tf.distribute.get_strategy(),
        checkpoint_dir,
        str(tmp_path / "logs2"),
    )
    assert resumed.restore() == 2
    for restored, expected in zip(fresh.weights, seen[2][1]):
        np.testing.assert_array_equal(restored.numpy(), expected)
