"""The small base class every pretraining task implements."""

from typing import ClassVar

import keras
import tensorflow as tf


class PretrainingTask:
    """One pretraining objective: its batch preprocessing, its head, its loss and metrics.

    Tasks only add keys prefixed by their name to a batch, and read the backbone's outputs, so
    they compose: the pretraining loss is the weighted sum of the tasks' losses.

    Args:
        vocabulary_size: int. Token ids in the vocabulary.
        max_seq_length: int. Longest input sequence, special tokens included.
        loss_weight: float. Weight of this task's loss in the total.
        **settings: run settings shared by all tasks (e.g. `max_predictions_per_seq`); each
            task takes the ones it uses, so the core never needs to know which task uses what.
    """

    name: ClassVar[str]
    #: How often the pair builder should replace segment B by one from another document.
    random_next_rate: ClassVar[float] = 0.0

    def __init__(
        self, vocabulary_size: int, max_seq_length: int, loss_weight: float = 1.0, **settings
    ):
        self.vocabulary_size = vocabulary_size
        self.max_seq_length = max_seq_length
        self.loss_weight = loss_weight

    def describe(self) -> dict:
        """What the bundle records of this task: its name and loss weight."""
        return {"name": self.name, "loss_weight": self.loss_weight}

    def preprocess(self, batch: dict) -> dict:
        """Adds this task's inputs to a batch in the tf.data pipeline.

        Args:
            batch: dict. Ragged int32 `token_ids`, `segment_ids` [B, None] and int32
                `next_sentence_labels` [B] (1 when segment B is from another document).

        Returns:
            dict: the batch with this task's keys added (and `token_ids` possibly changed).
        """
        return batch

    def build_head(self, backbone: keras.Model) -> keras.layers.Layer:
        """Returns this task's head, a layer called as `head(backbone_outputs, batch)`."""
        raise NotImplementedError

    def loss_and_metrics(self, head_output, batch: dict) -> tuple[tf.Tensor, dict]:
        """Returns this task's scalar loss and a dict of scalar metrics (`loss` and `accuracy`)."""
        raise NotImplementedError
