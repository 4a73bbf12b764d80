"""Scoring valid at every epoch's end and keeping the best epoch's weights, for fine-tuning."""

import json
import os

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import atomic_write, metrics, weights_file

HISTORY_FILE = "history.json"


class EpochEvaluator:
    """Scores valid after each epoch, keeps the history and the best epoch's weights.

    The history is kept on disk beside the checkpoints, so a resumed run continues it. Every
    epoch whose valid micro-F1 beats all earlier ones leaves its weights in its own file: a
    run resumed after losing an epoch still finds its best remaining epoch's file. Choosing the
    epoch on valid is early stopping on valid only; test is never looked at here.

    Args:
        model: keras.Model. Called on a batch, returns logits [B, L].
        valid_dataset: tf.data.Dataset. Evaluation batches with `labels` [B, L].
        valid_labels: np.ndarray [N, L]. Multi-hot valid labels, in dataset order.
        checkpoint_dir: str. Where the history and the best epochs' weights go.
        steps_per_epoch: int.
        keep_best: bool. Save the weights of improving epochs (for `restore_best`).
        start_step: int. The step a resumed run starts at (history past it is dropped).
    """

    def __init__(
        self,
        model,
        valid_dataset,
        valid_labels,
        checkpoint_dir,
        steps_per_epoch,
        keep_best=True,
        start_step=0,
    ):
        self.model = model
        self.valid_dataset = valid_dataset
        self.valid_labels = np.asarray(valid_labels) > 0
        self.checkpoint_dir = checkpoint_dir
        self.steps_per_epoch = steps_per_epoch
        self.keep_best = keep_best
        # One graph for every batch shape: eager calls are several times slower.
        self._logits = tf.function(
            lambda batch: model(batch, training=False),
            input_signature=[valid_dataset.element_spec],
        )
        self._history_path = os.path.join(checkpoint_dir, HISTORY_FILE)
        self.history = self._read_history(start_step // steps_per_epoch) if start_step else []

    def evaluate(self, dataset):
        """Probabilities [N, L] and the mean sigmoid cross-entropy over an evaluation dataset
        (batches shaped like valid's, with `labels`)."""
        probabilities, losses = [], []
        for batch in dataset:
            logits = self._logits(batch)
            losses.append(
                tf.keras.losses.binary_crossentropy(
                    batch["labels"], logits, from_logits=True
                ).numpy()
            )
            probabilities.append(tf.sigmoid(logits).numpy())
        return np.concatenate(probabilities), float(np.concatenate(losses).mean())

    def on_step(self, step, train_metrics):
        """The trainer's hook, called at every epoch's end (`on_step_every=steps_per_epoch`)
        with the epoch's mean training metrics: scores valid and returns the figures to log."""
        if step % self.steps_per_epoch:
            return None
        entry = self.end_epoch(step // self.steps_per_epoch, train_metrics.get("loss"))
        return {f"valid/{k}": v for k, v in entry.items() if k != "epoch"}

    def end_epoch(self, epoch, train_loss=None) -> dict:
        """Scores valid with the threshold tuned on it, records the epoch and keeps its weights
        if it is the best so far; returns its history entry."""
        probabilities, valid_loss = self.evaluate(self.valid_dataset)
        threshold = metrics.tune_threshold(probabilities, self.valid_labels)
        scores = metrics.multilabel_scores(
            self.valid_labels, metrics.decide_labels(probabilities, threshold)
        )
        entry = {
            "epoch": epoch,
            "train_loss": train_loss,
            "valid_loss": valid_loss,
            "valid_micro_f1": scores["micro_f1"],
            "valid_macro_f1": scores["macro_f1"],
            "valid_threshold": float(threshold),
        }
        earlier = [e["valid_micro_f1"] for e in self.history if e["epoch"] < epoch]
        self.history.append(entry)
        if self.keep_best and all(f1 < entry["valid_micro_f1"] for f1 in earlier):
            weights_file.save_weights(self.best_weights_path(epoch), self.model.weights)
        atomic_write.write_json(self._history_path, self.history)
        logging.info(
            "epoch %d: train loss %.4f, valid loss %.4f, valid micro-F1 %.4f, macro-F1 %.4f",
            epoch,
            entry["train_loss"] or float("nan"),
            valid_loss,
            scores["micro_f1"],
            scores["macro_f1"],
        )
        return entry

    @property
    def best_epoch(self) -> int:
        """The first epoch with the highest valid micro-F1."""
        best_f1 = max(entry["valid_micro_f1"] for entry in self.history)
        return next(e["epoch"] for e in self.history if e["valid_micro_f1"] == best_f1)

    @property
    def last_epoch(self) -> int:
        return self.history[-1]["epoch"]

    def restore_best(self) -> int:
        """Loads the best epoch's weights into the model (unless it is the last, whose weights
        the model holds), removes the other epochs' files, and returns the best epoch."""
        best = self.best_epoch
        if best != self.last_epoch:
            weights_file.load_weights(self.best_weights_path(best), self.model.weights)
        logging.info(
            "scoring the weights of epoch %d (best valid micro-F1 %.4f; last epoch %d)",
            best,
            max(e["valid_micro_f1"] for e in self.history),
            self.last_epoch,
        )
        kept = os.path.basename(self.best_weights_path(best))
        for name in os.listdir(self.checkpoint_dir):
            if name.startswith("best-epoch-") and name != kept:
                os.remove(os.path.join(self.checkpoint_dir, name))
        return best

    def best_weights_path(self, epoch) -> str:
        return os.path.join(self.checkpoint_dir, f"best-epoch-{epoch}.weights.h5")

    def _read_history(self, last_epoch):
        if not os.path.isfile(self._history_path):
            return []
        with open(self._history_path, encoding="utf-8") as f:
            return [entry for entry in json.load(f) if entry["epoch"] <= last_epoch]
