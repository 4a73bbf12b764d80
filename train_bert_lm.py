"""Stage 1: pretrain a backbone on a raw corpus with pluggable tasks; write a bundle.

    python train_bert_lm.py                      # the shipped sample, ~3 minutes on 2 cores
    python train_bert_lm.py --corpus=pretrain.txt --output_dir=runs/mini \\
        --backbone=textcnn --model_size=mini --epochs=2 --tasks=masked_lm --mask_rate=0.2
    python train_bert_lm.py --init_checkpoint=runs/mini --corpus=domain.txt \\
        --output_dir=runs/mini_domain --num_train_steps=2000   # continue from a bundle

The bundle (config.json, vocab.txt, backbone.weights.h5, heads.weights.h5) is written into
--output_dir, with checkpoints/, the tokenized corpus corpus_shards/ and TensorBoard logs/
beside it. Running the same command again resumes from the last checkpoint. --corpus may be a
glob or a directory; --strategy=multi_worker_mirrored with TF_CONFIG trains on several hosts.
Flags come from `PretrainConfig`'s fields, the registered backbones' settings (`--num_heads`,
`--filters`, ...) and the registered tasks' (`--mask_rate`).
"""

import json
import sys

from bert_tf.determinism import configure_before_tensorflow

configure_before_tensorflow(sys.argv)  # before TensorFlow is imported, below

from absl import flags, logging

import bert_cli
from bert_tf.pretraining import PretrainConfig, run_pretraining

bert_cli.define_config_flags(PretrainConfig)
bert_cli.define_backbone_flags()
bert_cli.define_task_flags()
bert_cli.define_verbose_flag()
flags.adopt_module_key_flags(bert_cli)  # so --help lists them as this script's flags
FLAGS = flags.FLAGS


def main(argv):
    bert_cli.reject_extra_arguments(argv)
    config = bert_cli.config_from_flags(PretrainConfig)
    summary = run_pretraining(config)
    if "tasks" in summary:  # not with --preprocess_only
        logging.info("training summary: %s", json.dumps(summary["tasks"]))


def run():
    """Console entry point."""
    bert_cli.run(main)


if __name__ == "__main__":
    run()
