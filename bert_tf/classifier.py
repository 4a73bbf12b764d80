"""Classifiers on any backbone: pooling, dropout, one logit per label; a sigmoid per label
(multi-label) or one softmax over the classes (single-label)."""

import keras
import numpy as np
from keras import ops

from backbones.base import BACKBONE_INPUTS
from bert_tf.multilabel_losses import multilabel_loss
from bert_tf.pooling import masked_max, masked_mean

POOLINGS = ("mean", "max", "mean_max", "pooled")


def prior_log_odds(label_matrix: np.ndarray) -> np.ndarray:
    """Each label's log-odds in the training labels [N, L] -> [L], so the head starts at the
    priors instead of at 0.5 for every label."""
    rate = np.clip(label_matrix.mean(axis=0), 1e-4, 1 - 1e-4)
    return np.log(rate / (1 - rate)).astype(np.float32)


class MultiLabelClassifier(keras.Model):
    """Backbone, pooling, dropout, dense to one logit per label.

    Args:
        backbone: keras.Model. Honours the backbone contract.
        num_labels: int. L.
        pooling: str. `mean` or `max` over the real positions of `sequence_output`, both
            concatenated (`mean_max`, [B, 2H]), or `pooled` for the backbone's own
            `pooled_output` (for the Transformer, tanh(dense) of [CLS], which no pretraining
            task but next-sentence trains).
        dropout: float. Dropout before the output layer.
        initial_bias: np.ndarray [L] or None. Initial output bias (e.g. the priors' log-odds).
        loss: str. One of `multilabel_losses.LOSSES`.
        positive_weights: np.ndarray [L] or None. The `class_balanced` loss's label weights.

    Call: dict with `token_ids`, `segment_ids`, `padding_mask` [B, S] -> logits [B, L].
    """

    #: The `--problem_type` it serves.
    problem_type = "multi_label"

    def __init__(
        self,
        backbone,
        num_labels,
        pooling="mean",
        dropout=0.1,
        initial_bias=None,
        loss="sigmoid",
        positive_weights=None,
        name="multi_label_classifier",
        **kwargs,
    ):
        # A fixed name keeps the head's weight paths stable (Keras numbers default names).
        super().__init__(name=name, **kwargs)
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")
        self.backbone = backbone
        self.pooling = pooling
        self.loss_name = loss
        self.positive_weights = positive_weights
        self.dropout = keras.layers.Dropout(dropout, dtype="float32", name="classifier_dropout")
        bias = "zeros" if initial_bias is None else keras.initializers.Constant(initial_bias)
        self.output_layer = keras.layers.Dense(
            num_labels,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            bias_initializer=bias,
            dtype="float32",
            name="classifier_output",
        )

    def call(self, features, training=False):
        outputs = self.backbone({key: features[key] for key in BACKBONE_INPUTS}, training=training)
        # The head computes in float32 whatever the dtype policy (pooling sums over the
        # sequence, and the logits feed the loss); it costs little beside the backbone.
        if self.pooling == "pooled":
            pooled = ops.cast(outputs["pooled_output"], "float32")
        else:
            sequence = ops.cast(outputs["sequence_output"], "float32")
            mask = features["padding_mask"]
            pooled = {
                "mean": lambda: masked_mean(sequence, mask),
                "max": lambda: masked_max(sequence, mask),
                "mean_max": lambda: ops.concatenate(
                    [masked_mean(sequence, mask), masked_max(sequence, mask)], axis=-1
                ),
            }[self.pooling]()
        return self.output_layer(self.dropout(pooled, training=training))

    @staticmethod
    def probabilities(logits):
        """Each label's probability: [B, L] logits -> [B, L], independent sigmoids."""
        return ops.sigmoid(logits)

    @staticmethod
    def example_losses(labels, logits):
        """Sigmoid cross-entropy averaged over labels, the valid loss whatever `loss` trains:
        [B, L] multi-hot, [B, L] -> [B]."""
        return keras.losses.binary_crossentropy(labels, logits, from_logits=True)

    def loss_and_metrics(self, batch, training=False):
        """The chosen loss, averaged over labels and examples."""
        logits = self(batch, training=training)
        labels = ops.cast(batch["labels"], logits.dtype)
        return multilabel_loss(self.loss_name, labels, logits, self.positive_weights), {}


class SingleLabelClassifier(MultiLabelClassifier):
    """The same head with one softmax over the classes: each example has exactly one.

    Args: `backbone`, `num_labels` (C), `pooling`, `dropout` as `MultiLabelClassifier`'s;
        `initial_bias` e.g. the log of the class shares. The loss is softmax cross-entropy.

    Call: dict with `token_ids`, `segment_ids`, `padding_mask` [B, S] -> logits [B, C].
    """

    problem_type = "single_label"

    def __init__(
        self,
        backbone,
        num_labels,
        pooling="mean",
        dropout=0.1,
        initial_bias=None,
        name="single_label_classifier",
        **kwargs,
    ):
        super().__init__(backbone, num_labels, pooling, dropout, initial_bias, name=name, **kwargs)

    @staticmethod
    def probabilities(logits):
        """The class distribution: [B, C] logits -> [B, C], a softmax."""
        return ops.softmax(logits, axis=-1)

    @staticmethod
    def example_losses(labels, logits):
        """Softmax cross-entropy: [B, C] one-hot, [B, C] -> [B]."""
        return keras.losses.categorical_crossentropy(labels, logits, from_logits=True)

    def loss_and_metrics(self, batch, training=False):
        """Softmax cross-entropy averaged over examples."""
        logits = self(batch, training=training)
        labels = ops.cast(batch["labels"], logits.dtype)
        return ops.mean(self.example_losses(labels, logits)), {}
