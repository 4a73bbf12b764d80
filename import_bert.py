"""Imports a published BERT checkpoint as a bundle: Google's release or a keras-hub preset.

    python import_bert.py --source=uncased_L-4_H-256_A-4 --output_dir=runs/bert_mini
    python import_bert.py --source=presets/bert_tiny_en_uncased --output_dir=runs/bert_tiny

The bundle (config.json, vocab.txt, backbone.weights.h5, heads.weights.h5) is what
train_bert_lm.py writes: continue pretraining it on your domain with
`train_bert_lm.py --init_checkpoint=runs/bert_mini --corpus=domain.txt`, or fine-tune it with
`train_bert_fine_tuning.py --init_checkpoint=runs/bert_mini`. Flags come from `ImportConfig`.
"""

import json

from absl import flags, logging

import bert_cli
from bert_tf.checkpoint_import import ImportConfig, import_bundle

bert_cli.define_config_flags(ImportConfig)
bert_cli.define_verbose_flag()
flags.adopt_module_key_flags(bert_cli)  # so --help lists them as this script's flags
FLAGS = flags.FLAGS


def main(argv):
    bert_cli.reject_extra_arguments(argv)
    summary = import_bundle(bert_cli.config_from_flags(ImportConfig))
    logging.info("import: %s", json.dumps(summary["imported_from"]))
    logging.info("bundle written to %s", FLAGS.output_dir)


def run():
    """Console entry point."""
    bert_cli.run(main)


if __name__ == "__main__":
    run()
