"""Stage 2: fine-tune a classifier from a pretrained bundle (fastText-format files).

    python train_bert_fine_tuning.py             # the shipped sample, from runs/pretrain
    python train_bert_fine_tuning.py --init_checkpoint=runs/mini --noload_weights \\
        --train_file=train_small.txt --valid_file=valid.txt --test_file=test.txt
    python train_bert_fine_tuning.py --problem_type=single_label --freeze=bottom:1 ...

Writes <output_dir>/metrics.json (per-epoch history, valid and test scores), <output_dir>/model/
(for `bert-tf-predict`), checkpoints/ and TensorBoard logs/. Running the same command again
resumes from the last finished epoch.
"""

import sys

from bert_tf.determinism import configure_before_tensorflow

configure_before_tensorflow(sys.argv)  # before TensorFlow is imported, below

from absl import flags, logging

import bert_cli
from bert_tf import problem_types
from bert_tf.finetuning import METRICS_FILE, MODEL_DIR, FinetuneConfig, run_finetuning

bert_cli.define_config_flags(FinetuneConfig)
bert_cli.define_backbone_flags(FinetuneConfig)
bert_cli.define_verbose_flag()
flags.adopt_module_key_flags(bert_cli)  # so --help lists them as this script's flags
FLAGS = flags.FLAGS


def main(argv):
    bert_cli.reject_extra_arguments(argv)
    config = bert_cli.config_from_flags(FinetuneConfig)
    results = run_finetuning(config)
    scores = problem_types.get(config.problem_type).headline_scores
    logging.info(
        "test %s; metrics in %s/%s, model in %s/%s",
        ", ".join(f"{name} {results['test'][name]:.4f}" for name in scores),
        FLAGS.output_dir,
        METRICS_FILE,
        FLAGS.output_dir,
        MODEL_DIR,
    )


def run():
    """Console entry point."""
    bert_cli.run(main)


if __name__ == "__main__":
    run()
