"""Labels raw text with a fine-tuned model: one input line in, one output line out.

    bert-tf-predict --model_dir=runs/finetune/model < texts.txt
    bert-tf-predict --model_dir=runs/finetune/model --input=texts.txt --top_k=5
    bert-tf-predict --model_dir=exported/bert_tf < texts.txt   # an export's newest version

(or `python predict_bert.py ...`). Each output line is the input's labels with their
probabilities, tab-separated (`label:0.913`), most probable first: for a multi-label model those
decided by the thresholds tuned on the validation set (at least one label), for a single-label
model its most probable class, or with --top_k=k the k most probable. A model fine-tuned on
sentence pairs reads `text_a<TAB>text_b` lines. Lines are read and written --batch_size at a
time, with a flush after each batch, so the command can sit in a pipe.
"""

import os
import sys

from absl import flags

import bert_cli
from bert_tf.prediction import load_predictor, predict_lines
from bert_tf.text_files import stream_text_lines

flags.DEFINE_string(
    "model_dir",
    "runs/finetune/model",
    "A model directory from fine-tuning, or an export from bert-tf-export (one version, or "
    "the base directory: its newest version).",
)
flags.DEFINE_string("input", "-", "A UTF-8 text file, one text a line; - for standard input.")
flags.DEFINE_integer("batch_size", 64, "Texts per batch.", lower_bound=1)
flags.DEFINE_integer(
    "top_k",
    0,
    "Print the k most probable labels; 0 for those the model decides (its thresholds, or "
    "the most probable class of a single-label model).",
    lower_bound=0,
)
bert_cli.define_verbose_flag()
FLAGS = flags.FLAGS


def main(argv):
    bert_cli.reject_extra_arguments(argv)
    texts = stream_text_lines(FLAGS.input, "input file")  # a missing file fails before loading
    predictor = load_predictor(FLAGS.model_dir)
    lines = predict_lines(texts, predictor, FLAGS.batch_size, FLAGS.top_k)
    try:
        for count, line in enumerate(lines, start=1):
            sys.stdout.write(line + "\n")
            if count % FLAGS.batch_size == 0:  # the last line of a batch
                sys.stdout.flush()
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as filters do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error
        sys.exit(1)


def run():
    """Console entry point."""
    bert_cli.run(main)


if __name__ == "__main__":
    run()
