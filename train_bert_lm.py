"""Stage 1: pretrain a backbone on a raw corpus with pluggable tasks; write a bundle.

    python train_bert_lm.py                      # the shipped sample, ~3 minutes on 2 cores
    python train_bert_lm.py --corpus=pretrain.txt --output_dir=runs/mini \\
        --backbone=textcnn --model_size=mini --epochs=2 --tasks=masked_lm

The bundle (config.json, vocab.txt, backbone.weights.h5, heads.weights.h5) is written into
--output_dir, with checkpoints/ and TensorBoard logs/ beside it. Running the same command again
resumes from the last checkpoint.
"""

import json
import sys

from bert_tf.determinism import configure_before_tensorflow

configure_before_tensorflow(sys.argv)  # before TensorFlow is imported, below

from absl import flags, logging

import backbones
import pretrain_tasks
import bert_cli as cli
from bert_tf.distribution import STRATEGIES
from bert_tf.pretraining import PretrainConfig, run_pretraining

flags.DEFINE_string(
    "corpus",
    "data/corpus.txt",
    "Raw text: one sentence a line, a blank line between documents; or one " "document a line.",
)
flags.DEFINE_string("output_dir", "runs/pretrain", "Where the bundle, checkpoints and logs go.")
flags.DEFINE_enum("backbone", "transformer", sorted(backbones.BACKBONES), "Backbone to pretrain.")
flags.DEFINE_enum(
    "model_size",
    "tiny",
    list(backbones.MODEL_SIZES),
    "Size preset: tiny 2x128, mini 4x256, small 4x512, base 12x768.",
)
flags.DEFINE_list(
    "tasks",
    ["masked_lm", "next_sentence"],
    f"Pretraining tasks, comma-separated; known: {sorted(pretrain_tasks.TASKS)}.",
)
flags.DEFINE_list(
    "task_loss_weights", [], "Optional per-task loss weights, e.g. masked_lm=1,next_sentence=0.5."
)
flags.DEFINE_enum(
    "tokenizer",
    "wordpiece",
    ["wordpiece", "whitespace"],
    "wordpiece: learn subwords from the corpus; whitespace: pre-tokenized text.",
)
flags.DEFINE_string(
    "vocab_file", "", "Use this vocab.txt (e.g. another bundle's) instead of learning one."
)
flags.DEFINE_integer("vocab_size", 8000, "Largest vocabulary, special tokens included.")
flags.DEFINE_integer("min_count", 2, "Whitespace tokenizer: keep tokens seen this many times.")
flags.DEFINE_bool("lower_case", True, "Fold case (accents are always kept).")
flags.DEFINE_integer("max_seq_length", 128, "Longest sequence, [CLS]/[SEP] included.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Most masked positions per sequence.")
flags.DEFINE_integer("batch_size", 32, "Global batch size.")
flags.DEFINE_float("learning_rate", 1e-3, "Peak learning rate of AdamW.")
flags.DEFINE_float("weight_decay", 0.01, "AdamW weight decay.")
flags.DEFINE_integer("num_train_steps", 0, "Steps to train; 0 to use --epochs.")
flags.DEFINE_float("epochs", 5.0, "Passes over the corpus, used when --num_train_steps=0.")
flags.DEFINE_integer("warmup_steps", -1, "Linear warmup steps; -1 for 10% of the steps.")
flags.DEFINE_integer("seed", 0, "Seeds masking, pairing, shuffling and initialization.")
flags.DEFINE_bool(
    "deterministic",
    False,
    "TensorFlow op determinism: identical losses from a seed, somewhat slower.",
)
flags.DEFINE_enum("strategy", "default", list(STRATEGIES), "tf.distribute strategy.")
flags.DEFINE_integer("checkpoint_every", 500, "Steps between checkpoints.")
flags.DEFINE_integer("log_every", 50, "Steps between TensorBoard summaries.")
flags.DEFINE_bool(
    "resume", True, "Continue the run in --output_dir if there is one; --noresume starts over."
)
cli.define_backbone_override_flags()
cli.define_verbose_flag()
FLAGS = flags.FLAGS


def main(argv):
    cli.reject_extra_arguments(argv)
    config = cli.config_from_flags(
        PretrainConfig,
        FLAGS,
        backbone_overrides=cli.backbone_overrides(FLAGS),
        tasks=tuple(FLAGS.tasks),
        task_loss_weights=cli.parse_weights(FLAGS.task_loss_weights, "--task_loss_weights"),
    )
    summary = run_pretraining(config)
    logging.info("training summary: %s", json.dumps(summary["tasks"]))
    logging.info("bundle written to %s", FLAGS.output_dir)


def run():
    """Console entry point."""
    cli.run(main)


if __name__ == "__main__":
    run()
