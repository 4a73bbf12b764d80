"""End-to-end tests of stage 1: `run_pretraining` and the `train_bert_lm.py` script.

Marked slow: each runs a few dozen training steps of a tiny model (or starts the script in a
subprocess). Select them with `-m slow`, leave them out with `-m "not slow"`.
"""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from corpora import grammar_corpus
from tiny_configs import tiny_overrides

import backbones
import pretrain_tasks
from bert_tf import bundle, optimization, pretraining, weights_file
from bert_tf.errors import InputError
from bert_tf.pretraining import PretrainConfig, run_pretraining

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    """40 documents of 3-6 short sentences from a small grammar: a masked LM learns fast."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(grammar_corpus(), encoding="utf-8")
    return str(path)


def tiny_config(corpus, output_dir, backbone="transformer", **changes):
    settings = dict(
        corpus=corpus,
        output_dir=str(output_dir),
        backbone=backbone,
        backbone_overrides=tiny_overrides(backbone) if backbone else {},
        tasks=("masked_lm", "next_sentence"),
        vocab_size=60,
        max_seq_length=32,
        task_settings={"max_predictions_per_seq": 5},
        batch_size=8,
        num_train_steps=50,
        learning_rate=0.02,
        checkpoint_every=0,
        log_every=1000,
    )
    settings.update(changes)
    return PretrainConfig(**settings)


@pytest.mark.parametrize("backbone_name", sorted(backbones.BACKBONES))
def test_pretraining_lowers_the_masked_lm_loss_and_writes_a_bundle(
    small_corpus, tmp_path, backbone_name
):
    output_dir = tmp_path / "run"
    summary = run_pretraining(tiny_config(small_corpus, output_dir, backbone_name))

    masked_lm = summary["tasks"]["masked_lm"]
    assert masked_lm["start_loss"] > 3.5  # about ln(vocabulary size) before training
    assert masked_lm["end_loss"] < masked_lm["start_loss"] - 0.3, masked_lm
    assert masked_lm["end_accuracy"] > masked_lm["start_accuracy"]
    assert set(summary["tasks"]) == {"masked_lm", "next_sentence"}
    assert summary["steps"] == 50

    # A complete bundle that rebuilds from its own files.
    config = bundle.read_bundle_config(str(output_dir))
    assert config["training_summary"] == json.loads(json.dumps(summary))
    assert config["backbone"]["name"] == backbone_name
    assert config["max_seq_length"] == 32
    assert [task["name"] for task in config["tasks"]] == ["masked_lm", "next_sentence"]
    tokenizer = bundle.load_tokenizer(str(output_dir), config)
    assert 5 < tokenizer.vocabulary_size <= 60
    backbone = backbones.build(config["backbone"]["name"], config["backbone"]["config"])
    assert backbone.get_config()["hidden_dim"] == 16
    count, _ = weights_file.load_weights(
        str(output_dir / bundle.BACKBONE_WEIGHTS_FILE), backbone.weights
    )
    assert count == len(backbone.weights)
    token_ids = tokenizer.tokenize(tf.constant(["the cat sat on the mat ."])).to_tensor()
    inputs = {
        "token_ids": token_ids,
        "segment_ids": tf.zeros_like(token_ids),
        "padding_mask": tf.ones_like(token_ids),
    }
    outputs = backbone(inputs, training=False)
    assert outputs["sequence_output"].shape == (1, token_ids.shape[1], 16)
    assert np.all(np.isfinite(outputs["sequence_output"].numpy()))


def test_gradient_accumulation_updates_once_per_so_many_batches(
    small_corpus, tmp_path, monkeypatch
):
    made = []

    def recording(*args, **kwargs):
        made.append(optimization.create_optimizer(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(pretraining, "create_optimizer", recording)
    config = tiny_config(
        small_corpus,
        tmp_path / "run",
        tasks=("masked_lm",),
        num_train_steps=60,
        gradient_accumulation_steps=3,
    )
    summary = run_pretraining(config)

    (optimizer,) = made
    assert summary["steps"] == 60 and int(optimizer.iterations) == 20
    assert optimizer.global_clipnorm == 1.0
    masked_lm = summary["tasks"]["masked_lm"]
    assert masked_lm["end_loss"] < masked_lm["start_loss"] - 0.3, masked_lm


def test_a_pre_layer_norm_transformer_pretrains_and_its_bundle_rebuilds_it(small_corpus, tmp_path):
    output_dir = tmp_path / "run"
    overrides = dict(tiny_overrides("transformer"), normalize_first=True)
    config = tiny_config(
        small_corpus, output_dir, backbone_overrides=overrides, tasks=("masked_lm",)
    )
    masked_lm = run_pretraining(config)["tasks"]["masked_lm"]
    assert masked_lm["end_loss"] < masked_lm["start_loss"] - 0.3, masked_lm

    saved = bundle.read_bundle_config(str(output_dir))["backbone"]["config"]
    assert saved["normalize_first"] is True
    backbone = backbones.build("transformer", saved)
    count, _ = weights_file.load_weights(
        str(output_dir / bundle.BACKBONE_WEIGHTS_FILE), backbone.weights
    )
    assert count == len(backbone.weights)
    assert "final_norm/gamma" in [w.path for w in backbone.weights]


def test_script_run_cjk_split_learns_han_compounds_and_the_bundle_keeps_it(tmp_path):
    """--cjk_split=script_run reaches the learned vocabulary, and the bundle records it, so
    fine-tuning and serving cut the text the same way."""
    sentences = ["東京大学で日本語を勉強する。", "大学の図書館は東京にある。", "日本語の本を読む。"]
    corpus = tmp_path / "ja.txt"
    corpus.write_text("\n\n".join("\n".join(sentences) for _ in range(20)), encoding="utf-8")
    output_dir = tmp_path / "run"
    config = tiny_config(
        str(corpus), output_dir, tasks=("masked_lm",), num_train_steps=2, cjk_split="script_run"
    )
    run_pretraining(config)
    saved = bundle.read_bundle_config(str(output_dir))
    assert saved["tokenizer"]["cjk_split"] == "script_run"
    tokenizer = bundle.load_tokenizer(str(output_dir), saved)
    assert {"東京", "日本語"} <= set(tokenizer.vocabulary)
    ids = tokenizer.tokenize(tf.constant(["日本語の大学"])).numpy()[0]
    assert [tokenizer.vocabulary[i] for i in ids] == ["日本語", "の", "大学"]


def test_whole_word_masking_gets_the_vocabularys_continuations_and_is_recorded(
    small_corpus, tmp_path, monkeypatch
):
    built, original = [], pretrain_tasks.build_tasks

    def build_tasks(*args, **kwargs):
        tasks = original(*args, **kwargs)
        built.extend(tasks)
        return tasks

    monkeypatch.setattr(pretrain_tasks, "build_tasks", build_tasks)
    output_dir = tmp_path / "run"
    settings = {"max_predictions_per_seq": 5, "whole_word_masking": True}
    config = tiny_config(
        small_corpus,
        output_dir,
        tasks=("masked_lm",),
        task_settings=settings,
        vocab_size=40,
        num_train_steps=5,
    )
    summary = run_pretraining(config)
    assert np.isfinite(summary["tasks"]["masked_lm"]["end_loss"])
    tokenizer = bundle.load_tokenizer(str(output_dir), bundle.read_bundle_config(str(output_dir)))
    assert tokenizer.continuation_ids  # a 40-token vocabulary splits words into pieces
    assert built[0].continuation_ids == tokenizer.continuation_ids
    recorded = bundle.read_bundle_config(str(output_dir))["tasks"][0]["settings"]
    assert recorded["whole_word_masking"] is True


@pytest.fixture(scope="module")
def pretrained_bundle(small_corpus, tmp_path_factory):
    """A tiny transformer pretrained 60 steps with both tasks, and its summary."""
    output_dir = tmp_path_factory.mktemp("first") / "bundle"
    summary = run_pretraining(tiny_config(small_corpus, output_dir, num_train_steps=60))
    return str(output_dir), summary


def test_pretraining_continues_from_a_bundle(small_corpus, tmp_path, pretrained_bundle):
    """--init_checkpoint: the bundle's vocabulary, backbone and shared head are the start."""
    first_dir, first = pretrained_bundle
    continued = tiny_config(
        small_corpus,
        tmp_path / "continued",
        init_checkpoint=first_dir,
        backbone=None,
        backbone_overrides={},
        vocab_size=None,
        tasks=("masked_lm",),
        num_train_steps=3,
        learning_rate=1e-5,
    )
    summary = run_pretraining(continued)
    fresh = run_pretraining(
        tiny_config(small_corpus, tmp_path / "fresh", tasks=("masked_lm",), num_train_steps=3)
    )
    start = summary["tasks"]["masked_lm"]["start_loss"]
    # Where the first run ended, not where a fresh model starts (about ln 60).
    assert start < fresh["tasks"]["masked_lm"]["start_loss"] - 0.5
    assert abs(start - first["tasks"]["masked_lm"]["end_loss"]) < 0.5
    config = bundle.read_bundle_config(str(tmp_path / "continued"))
    assert config["training_summary"]["init_checkpoint"] == first_dir
    assert config["backbone"] == bundle.read_bundle_config(first_dir)["backbone"]
    with open(os.path.join(first_dir, bundle.VOCABULARY_FILE), encoding="utf-8") as f:
        first_vocabulary = f.read()
    with open(tmp_path / "continued" / bundle.VOCABULARY_FILE, encoding="utf-8") as f:
        assert f.read() == first_vocabulary


def test_architecture_flags_that_contradict_the_start_bundle_are_refused(
    small_corpus, tmp_path, pretrained_bundle
):
    config = tiny_config(
        small_corpus,
        tmp_path / "out",
        init_checkpoint=pretrained_bundle[0],
        backbone="textcnn",
        backbone_overrides=tiny_overrides("textcnn"),
        vocab_size=None,
    )
    with pytest.raises(InputError, match="--backbone=textcnn") as error:
        run_pretraining(config)
    assert "--filters=8 (the bundle's transformer has no filters)" in str(error.value)
    assert not os.path.exists(tmp_path / "out")


def pairs_of(batch):
    """A batch without its (not reproducible) masks: unmasked token ids, segments, labels."""
    batch = {key: value.numpy() for key, value in batch.items()}
    rows, slots = np.nonzero(batch["masked_lm_weights"])
    positions = batch["masked_lm_positions"][rows, slots]
    batch["token_ids"][rows, positions] = batch["masked_lm_ids"][rows, slots]
    return {k: batch[k] for k in ("token_ids", "segment_ids", "next_sentence_labels")}


class Interrupted(Exception):
    """Stands in for a crash (or Ctrl-C) in the middle of training."""


@pytest.fixture(scope="module")
def resumed_run(small_corpus, tmp_path_factory):
    """A 12-step run that crashes after step 8 (checkpoint at step 5), then is run again."""
    output_dir = tmp_path_factory.mktemp("resume") / "run"
    config = tiny_config(small_corpus, output_dir, num_train_steps=12, checkpoint_every=5)
    calls = []

    class RecordingTrainer(pretraining.Trainer):
        crash_after = None

        def restore(self):
            step = super().restore()
            calls.append({"restored_step": step})
            return step

        def train(self, dataset, num_steps, *, on_step=None, **kwargs):
            calls[-1]["first_pairs"] = pairs_of(next(iter(dataset)))

            def maybe_crash(step, metrics):
                result = on_step(step, metrics) if on_step else None
                if step == self.crash_after:
                    raise Interrupted(step)
                return result

            history = super().train(dataset, num_steps, on_step=maybe_crash, **kwargs)
            calls[-1]["history"] = history
            return history

    original = pretraining.Trainer
    pretraining.Trainer = RecordingTrainer
    try:
        RecordingTrainer.crash_after = 8
        with pytest.raises(Interrupted):
            run_pretraining(config)
        checkpoint_dir = str(output_dir / "checkpoints")
        after_crash = tf.train.latest_checkpoint(checkpoint_dir)
        bundle_after_crash = os.path.exists(output_dir / bundle.CONFIG_FILE)
        RecordingTrainer.crash_after = None
        summary = run_pretraining(config)
    finally:
        pretraining.Trainer = original
    return dict(
        config=config,
        calls=calls,
        after_crash=after_crash,
        bundle_after_crash=bundle_after_crash,
        summary=summary,
        latest=tf.train.latest_checkpoint(checkpoint_dir),
    )


def test_resume_continues_from_the_last_checkpoint(resumed_run):
    first, second = resumed_run["calls"]
    assert resumed_run["after_crash"].endswith("ckpt-5")
    assert not resumed_run["bundle_after_crash"]  # no bundle from an unfinished run
    assert first["restored_step"] == 0
    assert second["restored_step"] == 5
    assert second["history"]["steps_run"] == 7
    assert resumed_run["latest"].endswith("ckpt-12")
    summary = resumed_run["summary"]
    assert summary["steps"] == 12
    # The start figures are those of step 1, kept from the interrupted run.
    assert summary["tasks"]["masked_lm"]["start_loss"] > 3.5
    config = bundle.read_bundle_config(resumed_run["config"].output_dir)
    assert config["training_summary"]["steps"] == 12


def test_resume_does_not_replay_the_first_batches(resumed_run):
    first, second = resumed_run["calls"]
    a, b = first["first_pairs"], second["first_pairs"]
    same = a.keys() == b.keys() and all(
        a[k].shape == b[k].shape and np.array_equal(a[k], b[k]) for k in a
    )
    assert not same


def test_resume_with_other_settings_is_refused(resumed_run):
    config = resumed_run["config"]
    changed = PretrainConfig(**dict(vars(config), learning_rate=config.learning_rate * 2))
    with pytest.raises(InputError, match="learning_rate") as error:
        run_pretraining(changed)
    assert "--noresume" in str(error.value)


def run_script(*flags):
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "train_bert_lm.py"), *flags],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("content", [None, ""], ids=["missing", "empty"])
def test_script_reports_a_bad_corpus_without_traceback(tmp_path, content):
    corpus = tmp_path / "my_corpus.txt"
    if content is not None:
        corpus.write_text(content, encoding="utf-8")
    result = run_script(f"--corpus={corpus}", f"--output_dir={tmp_path / 'out'}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert str(corpus) in result.stderr
    assert "error:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not os.path.exists(tmp_path / "out" / bundle.CONFIG_FILE)


# ---------------------------------------------------------------------------------------------
# A corpus of several files, tokenized once into shards; bad corpora.


def split_into_files(corpus, directory, count=3):
    """The corpus's documents dealt round-robin into `count` files of `directory`."""
    with open(corpus, encoding="utf-8") as f:
        documents = f.read().strip().split("\n\n")
    directory.mkdir()
    for index in range(count):
        text = "\n\n".join(documents[index::count]) + "\n"
        (directory / f"part{index}.txt").write_text(text, encoding="utf-8")
    return directory


def files_under(directory):
    return sorted(
        os.path.relpath(os.path.join(root, name), directory)
        for root, _, names in os.walk(directory)
        for name in names
    )


def test_a_directory_is_sharded_once_and_its_shards_train_another_run(small_corpus, tmp_path):
    texts = split_into_files(small_corpus, tmp_path / "texts")
    config = tiny_config(str(texts), tmp_path / "prep", preprocess_only=True, shard_tokens=600)
    prepared = run_pretraining(config)
    shards = prepared["corpus_shards"]
    assert shards == str(tmp_path / "prep" / pretraining.SHARD_DIR)
    with open(os.path.join(shards, "shards.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    assert [entry["path"] for entry in manifest["files"]] == [
        str(texts / f"part{index}.txt") for index in range(3)
    ]
    assert manifest["num_documents"] == 40 and len(manifest["shards"]) > 1
    before = {name: os.path.getmtime(os.path.join(shards, name)) for name in os.listdir(shards)}
    run_pretraining(dataclasses.replace(config, resume=False))  # reused, not made again
    assert before == {name: os.path.getmtime(os.path.join(shards, name)) for name in before}

    summary = run_pretraining(
        tiny_config(shards, tmp_path / "from_shards", num_train_steps=6, static_shapes=True)
    )
    assert summary["steps"] == 6
    trained = bundle.read_bundle_config(str(tmp_path / "from_shards"))
    assert trained["tokenizer"]["vocabulary_size"] == prepared["vocabulary_size"]
    other = tmp_path / "other_vocab.txt"
    other.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cat"]) + "\n")
    with pytest.raises(InputError, match="made with another vocabulary"):
        run_pretraining(tiny_config(shards, tmp_path / "mismatch", vocab_file=str(other)))


@pytest.mark.parametrize("vocab_file", [False, True], ids=["learned", "given"])
@pytest.mark.parametrize("case", ["empty_glob", "bad_file_among_many"])
def test_a_bad_corpus_stops_the_run_before_any_file_is_written(
    small_corpus, tmp_path, case, vocab_file
):
    texts = split_into_files(small_corpus, tmp_path / "texts")
    if case == "empty_glob":
        corpus, expected = str(texts / "*.md"), "the pattern matches no file"
    else:
        (texts / "part1.txt").write_bytes(b"good line.\n\nbad \xff byte.\n")
        corpus, expected = str(texts), f"{texts / 'part1.txt'}:3:"
    given = {}
    if vocab_file:
        given["vocab_file"] = str(tmp_path / "vocab.txt")
        words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "."]
        (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=expected):
        run_pretraining(tiny_config(corpus, tmp_path / "out", **given))
    assert not (tmp_path / "out").exists() or files_under(tmp_path / "out") == []


def test_packing_across_documents_makes_fewer_fuller_sequences(small_corpus, tmp_path):
    within, across = (
        run_pretraining(
            tiny_config(
                small_corpus,
                tmp_path / name,
                tasks=("masked_lm",),
                max_seq_length=128,  # a whole document fits: only packing across fills more
                num_train_steps=10,
                pack_across_documents=pack,
            )
        )
        for name, pack in (("within", False), ("across", True))
    )
    # The same steps cover more of the corpus when sequences run on into the next documents.
    assert across["epochs"] > 1.2 * within["epochs"], (across["epochs"], within["epochs"])
    assert across["tasks"]["masked_lm"]["end_loss"] < across["tasks"]["masked_lm"]["start_loss"]


def test_packing_across_documents_with_next_sentence_is_refused_before_any_work(
    small_corpus, tmp_path
):
    config = tiny_config(small_corpus, tmp_path / "out", pack_across_documents=True)
    with pytest.raises(InputError, match="next_sentence needs sentence pairs"):
        run_pretraining(config)
    assert not (tmp_path / "out").exists()
