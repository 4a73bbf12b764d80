"""Scoring valid at every epoch's end and keeping the best epoch's weights, for fine-tuning."""

import json
import os

import numpy as np
import tensorflow as tf
from absl import logging
from keras.ops import convert_to_numpy as to_numpy

from bert_tf import atomic_write, problem_types, weights_file

HISTORY_FILE = "history.json"


class EpochEvaluator:
    """Scores valid after each epoch, keeps the history and the best epoch's weights.

    The history is kept on disk beside the checkpoints, so a resumed run continues it. Every
    epoch whose valid score (`selection_metric`: by default mean-F1, or accuracy for
    single-label) beats all earlier ones leaves its weights in its own file: a run resumed
    after losing an epoch still finds its best remaining epoch's file. Choosing the epoch on
    valid is early stopping on valid only; test is never looked at here.

    Args:
        model: a classifier (`MultiLabelClassifier` or `SingleLabelClassifier`). Called on a
            batch, returns logits [B, L]; its `probabilities` and `example_losses` score them.
        valid_dataset: tf.data.Dataset. Evaluation batches with `labels` [B, L].
        valid_truth: the valid labels in dataset order, as the problem type's `truth` gives
            them (multi-hot [N, L] for multi-label).
        checkpoint_dir: str. Where the history and the best epochs' weights go.
        steps_per_epoch: int.
        keep_best: bool. Save the weights of improving epochs (for `restore_best`).
        start_step: int. The step a resumed run starts at (history past it is dropped).
        problem: a `problem_types` entry. How valid is scored.
        selection_metric: str or None. The history figure the best epoch is chosen on
            (`problem_types.selection_metric`); None: the problem type's default.
    """

    def __init__(
        self,
        model,
        valid_dataset,
        valid_truth,
        checkpoint_dir,
        steps_per_epoch,
        keep_best=True,
        start_step=0,
        problem=problem_types.PROBLEM_TYPES["multi_label"],
        selection_metric=None,
    ):
        self.model = model
        self.valid_dataset = valid_dataset
        self.valid_truth = valid_truth
        self.problem = problem
        self.selection_metric = selection_metric or problem_types.selection_metric(problem)
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
        """Probabilities [N, L] and the mean loss (the model's: sigmoid or softmax
        cross-entropy) over an evaluation dataset (batches shaped like valid's, with `labels`)."""
        probabilities, losses = [], []
        for batch in dataset:
            logits = self._logits(batch)
            losses.append(to_numpy(self.model.example_losses(batch["labels"], logits)))
            probabilities.append(to_numpy(self.model.probabilities(logits)))
        return np.concatenate(probabilities), float(np.concatenate(losses).mean())

    def on_step(self, step, train_metrics):
        """The trainer's hook, called at every epoch's end (`on_step_every=steps_per_epoch`)
        with the epoch's mean training metrics: scores valid and returns the figures to log."""
        if step % self.steps_per_epoch:
            return None
        entry = self.end_epoch(step // self.steps_per_epoch, train_metrics.get("loss"))
        return {f"valid/{k}": v for k, v in entry.items() if k != "epoch"}

    def end_epoch(self, epoch, train_loss=None) -> dict:
        """Scores valid (multi-label: with the threshold tuned on it), records the epoch and
        keeps its weights if it is the best so far; returns its history entry."""
        probabilities, valid_loss = self.evaluate(self.valid_dataset)
        scores = self.problem.epoch_scores(probabilities, self.valid_truth)
        entry = {"epoch": epoch, "train_loss": train_loss, "valid_loss": valid_loss, **scores}
        selected = self.selection_metric
        earlier = [e[selected] for e in self.history if e["epoch"] < epoch]
        self.history.append(entry)
        if self.keep_best and all(score < entry[selected] for score in earlier):
            weights_file.save_weights(self.best_weights_path(epoch), self.model.weights)
        atomic_write.write_json(self._history_path, self.history)
        logging.info(
            "epoch %d: train loss %.4f, valid loss %.4f, %s",
            epoch,
            entry["train_loss"] or float("nan"),
            valid_loss,
            ", ".join(f"{name} {value:.4f}" for name, value in scores.items()),
        )
        return entry

    @property
    def best_epoch(self) -> int:
        """The first epoch with the best valid score (`selection_metric`)."""
        selected = self.selection_metric
        best = max(entry[selected] for entry in self.history)
        return next(e["epoch"] for e in self.history if e[selected] == best)

    @property
    def last_epoch(self) -> int:
        return self.history[-1]["epoch"]

    def restore_best(self) -> int:
        """Loads the best epoch's weights into the model (unless it is the last, whose weights
        the model holds), removes the other epochs' files, and returns the best epoch."""
        best = self.best_epoch
        if best != self.last_epoch:
            weights_file.load_weights(self.best_weights_path(best), self.model.weights)
        selected = self.selection_metric
        logging.info(
            "scoring the weights of epoch %d (best %s %.4f; last epoch %d)",
            best,
            selected,
            max(e[selected] for e in self.history),
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
