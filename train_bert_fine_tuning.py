"""Stage 2: fine-tune a multi-label classifier from a pretrained bundle (fastText-format files).

    python train_bert_fine_tuning.py             # the shipped sample, from runs/pretrain
    python train_bert_fine_tuning.py --init_checkpoint=runs/mini --noload_weights \\
        --train_file=train_small.txt --valid_file=valid.txt --test_file=test.txt

Writes <output_dir>/metrics.json (per-epoch history, valid and test scores), <output_dir>/model/
(for `bert-tf-predict`), checkpoints/ and TensorBoard logs/. Running the same command again
resumes from the last finished epoch.
"""

import sys

from bert_tf.determinism import configure_before_tensorflow

configure_before_tensorflow(sys.argv)  # before TensorFlow is imported, below

from absl import flags, logging

import backbones
import bert_cli as cli
from bert_tf.classifier import POOLINGS
from bert_tf.distribution import STRATEGIES
from bert_tf.finetuning import METRICS_FILE, MODEL_DIR, FinetuneConfig, run_finetuning

flags.DEFINE_string(
    "init_checkpoint",
    "runs/pretrain",
    "Bundle directory from train_bert_lm.py; empty to train without one.",
)
flags.DEFINE_bool(
    "load_weights",
    True,
    "Load the bundle's weights; --noload_weights keeps its vocabulary and "
    "architecture with fresh weights (the no-pretrain arm).",
)
flags.DEFINE_enum(
    "backbone", "transformer", sorted(backbones.BACKBONES), "Backbone, when no bundle is given."
)
flags.DEFINE_enum(
    "model_size", "tiny", list(backbones.MODEL_SIZES), "Size preset, when no bundle is given."
)
flags.DEFINE_enum(
    "tokenizer",
    "wordpiece",
    ["wordpiece", "whitespace"],
    "Tokenizer learned from the train file, when no bundle is given.",
)
flags.DEFINE_integer("vocab_size", 8000, "Vocabulary size, when no bundle is given.")
flags.DEFINE_string("train_file", "data/train.txt", "fastText format: text __label__a ...")
flags.DEFINE_string("valid_file", "data/valid.txt", "Tunes the threshold; scored every epoch.")
flags.DEFINE_string("test_file", "data/test.txt", "Scored once at the end.")
flags.DEFINE_string("output_dir", "runs/finetune", "Where metrics, model and logs go.")
flags.DEFINE_enum(
    "pooling",
    None,
    list(POOLINGS),
    "mean/max over the token outputs, or the backbone's pooled output. Default: the "
    "backbone's choice, by measurement: "
    + ", ".join(f"{name} {cls.DEFAULT_POOLING}" for name, cls in backbones.BACKBONES.items())
    + ".",
)
flags.DEFINE_float("classifier_dropout", 0.1, "Dropout before the output layer.")
flags.DEFINE_bool("init_bias_to_priors", True, "Start the output bias at the labels' log-odds.")
flags.DEFINE_integer("epochs", 10, "Passes over the train file.")
flags.DEFINE_integer("batch_size", 32, "Global batch size.")
flags.DEFINE_float("learning_rate", 5e-4, "Peak learning rate of AdamW (pretraining uses 1e-3).")
flags.DEFINE_float("weight_decay", 0.01, "AdamW weight decay.")
flags.DEFINE_float("warmup_proportion", 0.1, "Share of the steps spent warming up.")
flags.DEFINE_integer("max_seq_length", 128, "Texts are truncated to this many tokens.")
flags.DEFINE_bool("per_label_thresholds", False, "Tune one threshold per label on valid.")
flags.DEFINE_bool(
    "restore_best_epoch",
    True,
    "Score test and save the model with the weights of the epoch with the best valid "
    "micro-F1; --norestore_best_epoch keeps the last epoch's.",
)
flags.DEFINE_bool(
    "skip_invalid_lines",
    False,
    "Skip (and count) lines with no label or no text instead of stopping.",
)
flags.DEFINE_integer("seed", 0, "Seeds shuffling, dropout and initialization.")
flags.DEFINE_bool(
    "deterministic",
    False,
    "TensorFlow op determinism: identical losses from a seed, somewhat slower.",
)
flags.DEFINE_enum("strategy", "default", list(STRATEGIES), "tf.distribute strategy.")
flags.DEFINE_bool(
    "resume", True, "Continue the run in --output_dir if there is one; --noresume starts over."
)
cli.define_backbone_override_flags()
cli.define_verbose_flag()
FLAGS = flags.FLAGS


def main(argv):
    cli.reject_extra_arguments(argv)
    config = cli.config_from_flags(
        FinetuneConfig, FLAGS, backbone_overrides=cli.backbone_overrides(FLAGS)
    )
    results = run_finetuning(config)
    logging.info(
        "test micro-F1 %.4f, macro-F1 %.4f, mean %.4f; metrics in %s/%s, model in %s/%s",
        results["test"]["micro_f1"],
        results["test"]["macro_f1"],
        results["test"]["mean_f1"],
        FLAGS.output_dir,
        METRICS_FILE,
        FLAGS.output_dir,
        MODEL_DIR,
    )


def run():
    """Console entry point."""
    cli.run(main)


if __name__ == "__main__":
    run()
