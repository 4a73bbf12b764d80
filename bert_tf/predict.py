"""Labels raw text with a fine-tuned model: one input line in, one output line out.

    bert-tf-predict --model_dir=runs/finetune/model < texts.txt
    bert-tf-predict --model_dir=runs/finetune/model --input=texts.txt --top_k=5

Each output line is the input's labels with their probabilities, tab-separated
(`label:0.913`), decided by the thresholds tuned on the validation set (at least one label).
"""

import sys

import numpy as np
import tensorflow as tf
from absl import flags

import bert_cli as cli
from bert_tf import metrics
from bert_tf.batching import pad_batch
from bert_tf.classification_data import encode_texts
from bert_tf.classifier_bundle import load_classifier

flags.DEFINE_string("model_dir", "runs/finetune/model", "A model directory from fine-tuning.")
flags.DEFINE_string("input", "-", "A text file, one text a line; - for standard input.")
flags.DEFINE_integer("batch_size", 64, "Texts per batch.")
cli.define_verbose_flag()
FLAGS = flags.FLAGS


def predict_probabilities(model, tokenizer, texts, max_seq_length, batch_size=64) -> np.ndarray:
    """Label probabilities [N, L] for raw texts."""
    ids = encode_texts(texts, tokenizer, max_seq_length)
    dataset = tf.data.Dataset.from_tensor_slices({"token_ids": ids}).map(
        lambda ex: dict(ex, segment_ids=tf.zeros_like(ex["token_ids"]))
    )
    outputs = [
        tf.sigmoid(model(batch, training=False)).numpy()
        for batch in dataset.ragged_batch(batch_size).map(pad_batch)
    ]
    return np.concatenate(outputs) if outputs else np.zeros((0, model.output_layer.units))


def format_predictions(probabilities, labels, thresholds) -> list[str]:
    """One line per row: the decided labels, most probable first, as `label:probability`."""
    decided = metrics.decide_labels(probabilities, np.asarray(thresholds))
    lines = []
    for row, chosen in zip(probabilities, decided):
        order = [j for j in np.argsort(-row) if chosen[j]]
        lines.append("\t".join(f"{labels[j]}:{row[j]:.3f}" for j in order))
    return lines


def main(argv):
    cli.reject_extra_arguments(argv)
    model, tokenizer, config = load_classifier(FLAGS.model_dir)
    stream = sys.stdin if FLAGS.input == "-" else open(FLAGS.input, encoding="utf-8")
    with stream:
        texts = [line.rstrip("\r\n") for line in stream]
    probabilities = predict_probabilities(
        model, tokenizer, texts, config["max_seq_length"], FLAGS.batch_size
    )
    classifier = config["classifier"]
    for line in format_predictions(probabilities, classifier["labels"], classifier["thresholds"]):
        print(line)


def run():
    """Console entry point."""
    cli.run(main)


if __name__ == "__main__":
    run()
