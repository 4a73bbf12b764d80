"""End-to-end: `import_bert.py` on a tiny Google release, then continued pretraining and
fine-tuning from the imported bundle, as a user adapting a published BERT to a domain does.

Marked slow: they start the script in a subprocess or train a few steps.
"""

import logging
import os

import numpy as np
import pytest
from finetuning_support import assert_clean_error, labeled_files, run_script, write_subset
from google_bert_release import tiny_release

from bert_tf import bundle, pretraining, weights_file
from bert_tf.errors import InputError
from bert_tf.finetuning import FinetuneConfig, run_finetuning
from bert_tf.pretraining import PretrainConfig, run_pretraining

pytestmark = pytest.mark.slow

#: The tiny release's Transformer: embeddings 5, 16 per layer (2 layers), pooler 2.
BACKBONE_WEIGHTS = 5 + 16 * 2 + 2
#: Google's layout in the tiny vocabulary: [UNK] 4, [CLS] 5, [SEP] 6, [MASK] 7.
CLS, MASK = 5, 7


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """A tiny uncased Google release with both heads, imported by the script."""
    root = tmp_path_factory.mktemp("import")
    _, _, arrays = tiny_release(root / "release")
    result = run_script(
        "import_bert.py", f"--source={root / 'release'}", f"--output_dir={root / 'bundle'}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return str(root / "bundle"), arrays, result.stderr


def test_the_script_writes_a_bundle_and_says_what_it_did(imported):
    directory, arrays, log = imported
    assert f"imported {len(arrays)} weights" in log
    assert "uncased: lower-cases and strips accents" in log
    config = bundle.read_bundle_config(directory)
    assert config["training_summary"]["imported_from"]["format"] == "google_bert"


def test_the_script_reports_a_missing_file_and_writes_nothing(tmp_path):
    tiny_release(tmp_path / "release", heads=False)
    os.remove(tmp_path / "release" / "vocab.txt")
    result = run_script(
        "import_bert.py", f"--source={tmp_path / 'release'}", f"--output_dir={tmp_path / 'out'}"
    )
    assert_clean_error(result, "no vocab.txt")
    assert not (tmp_path / "out").exists()


class FirstBatchTrainer(pretraining.Trainer):
    """Keeps the first pretraining batch, to see which ids the pipeline used."""

    first_batch = None

    def train(self, dataset, num_steps, **kwargs):
        FirstBatchTrainer.first_batch = {k: v.numpy() for k, v in next(iter(dataset)).items()}
        return super().train(dataset, num_steps, **kwargs)


def test_pretraining_continues_from_the_imported_bundle(imported, tmp_path, monkeypatch):
    directory, arrays, _ = imported
    monkeypatch.setattr(pretraining, "Trainer", FirstBatchTrainer)
    corpus = write_subset(tmp_path / "corpus.txt", "corpus.txt", 150)
    config = PretrainConfig(
        corpus=corpus,
        init_checkpoint=directory,
        tasks=("masked_lm", "next_sentence"),
        output_dir=str(tmp_path / "adapted"),
        max_seq_length=32,
        batch_size=8,
        num_train_steps=3,
        learning_rate=1e-6,
        checkpoint_every=0,
        log_every=100,
    )
    run_pretraining(config)
    batch = FirstBatchTrainer.first_batch
    assert np.all(batch["token_ids"][:, 0] == CLS)  # Google's [CLS], not the learned layout's 2
    real = batch["masked_lm_weights"] == 1
    masked = batch["token_ids"][np.nonzero(real)[0], batch["masked_lm_positions"][real]]
    assert np.mean(masked == MASK) > 0.5
    adapted = str(tmp_path / "adapted")
    saved = bundle.read_bundle_config(adapted)
    assert saved["tokenizer"] == bundle.read_bundle_config(directory)["tokenizer"]
    # Both heads came from the checkpoint: a learning rate of 1e-6 barely moves them.
    heads = weights_file.read_weights(os.path.join(adapted, bundle.HEADS_WEIGHTS_FILE))
    np.testing.assert_allclose(
        heads["pretraining_model/next_sentence/dense/kernel"],
        arrays["cls/seq_relationship/output_weights"].T,
        atol=1e-4,
    )
    np.testing.assert_allclose(
        heads["pretraining_model/masked_lm/transform/kernel"],
        arrays["cls/predictions/transform/dense/kernel"],
        atol=1e-4,
    )
    with pytest.raises(
        InputError, match="--hidden_dim=32 .*the bundle's transformer has hidden_dim=16"
    ):
        run_pretraining(PretrainConfig(**dict(vars(config), backbone_overrides={"hidden_dim": 32})))


def test_fine_tuning_from_the_imported_bundle_restores_every_weight(imported, tmp_path, caplog):
    directory, arrays, _ = imported
    # absl logs through its own logger, whose level an earlier test's flags may have raised.
    caplog.set_level(logging.INFO, logger="absl")
    files = labeled_files(tmp_path / "data", train=64, valid=16, test=16)
    results = run_finetuning(
        FinetuneConfig(
            **files,
            init_checkpoint=directory,
            output_dir=str(tmp_path / "finetuned"),
            epochs=1,
            batch_size=8,
            max_seq_length=32,
        )
    )
    backbone_variables = [name for name in arrays if name.startswith("bert/")]
    assert results["restored"]["weights"] == len(backbone_variables) == BACKBONE_WEIGHTS
    assert results["restored"]["parameters"] == sum(arrays[n].size for n in backbone_variables)
    assert f"restored {BACKBONE_WEIGHTS} weights" in caplog.text
    assert 0 <= results["test"]["micro_f1"] <= 1
