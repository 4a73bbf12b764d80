"""Exports a fine-tuned model as one SavedModel from raw strings to labels, for TF Serving,
`bert-tf-serve` or any program with TensorFlow and tensorflow-text.

    bert-tf-export --model_dir=runs/finetune/model --export_dir=exported/bert_tf/1
    bert-tf-export --model_dir=runs/ft/model --export_dir=exported/bert_tf/2 --top_k=10

(or `python export_bert.py ...`). The SavedModel's `serving_default` signature takes `text`
(tf.string [N]) and returns `probabilities`, `labels_mask` [N, L], `top_labels` and
`top_scores` [N, K]: tokenizer, thresholds and label names are inside it.
"""

from absl import flags, logging

import bert_cli
from bert_tf.export import ExportConfig, export_classifier

bert_cli.define_config_flags(ExportConfig)
bert_cli.define_verbose_flag()
FLAGS = flags.FLAGS


def main(argv):
    bert_cli.reject_extra_arguments(argv)
    export_dir = export_classifier(bert_cli.config_from_flags(ExportConfig))
    logging.info("exported %s to %s", FLAGS.model_dir, export_dir)


def run():
    """Console entry point."""
    bert_cli.run(main)


if __name__ == "__main__":
    run()
