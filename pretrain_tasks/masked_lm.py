"""Masked language model: predict 15% of the tokens from their context."""

import keras
import tensorflow as tf
import tensorflow_text as tf_text
from keras import ops

from bert_tf.errors import InputError
from bert_tf.tokenization import SpecialTokenIds
from pretrain_tasks.base import PretrainingTask


def gather_by_one_hot(sequence, positions):
    """Gathers vectors at positions with a matmul, which runs and shards on any device.

    Args:
        sequence: float [B, S, H].
        positions: int [B, P]. Positions in [0, S).

    Returns:
        float [B, P, H]: `sequence[b, positions[b, p]]`.
    """
    one_hot = ops.one_hot(positions, ops.shape(sequence)[1], dtype=sequence.dtype)
    return ops.matmul(one_hot, sequence)


def _seeded_shuffle(batch_seed):
    """A shuffle for tensorflow-text's selector that does not depend on thread timing.

    The selector shuffles each row inside a `map_fn` whose iterations run in parallel; with the
    default stateful shuffle, which row gets which draws varies from run to run. Here each row is
    shuffled statelessly, keyed by the batch's seed (drawn once per batch) and the row's first
    flat position, which differs between rows.
    """

    def shuffle(positions):
        row_key = tf.reduce_sum(tf.cast(positions[:1], tf.int64))
        keys = tf.random.stateless_uniform(
            tf.shape(positions), seed=batch_seed + tf.stack([tf.constant(0, tf.int64), row_key])
        )
        return tf.gather(positions, tf.argsort(keys))

    return shuffle


@keras.saving.register_keras_serializable(package="bert_tf")
class MaskedLMHead(keras.layers.Layer):
    """Dense + GELU + LayerNorm at the masked positions, then logits through the tied embedding.

    Args:
        token_embedding: keras.layers.Embedding. The backbone's token embedding [V, E]; the
            output projection is its transpose (tied), plus a bias of its own.

    Call: `backbone_outputs` dict, `batch` dict with `masked_lm_positions` [B, P]
        -> logits float [B, P, V].
    """

    def __init__(self, token_embedding, **kwargs):
        super().__init__(**kwargs)
        self.token_embedding = token_embedding
        embedding_dim = token_embedding.output_dim
        self.transform = keras.layers.Dense(
            embedding_dim,
            activation="gelu",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="transform",
        )
        self.layer_norm = keras.layers.LayerNormalization(epsilon=1e-12, name="layer_norm")

    def build(self, backbone_outputs_shape, batch_shape=None):
        sequence_shape = backbone_outputs_shape["sequence_output"]
        self.transform.build(sequence_shape)
        self.layer_norm.build(tuple(sequence_shape[:-1]) + (self.token_embedding.output_dim,))
        self.output_bias = self.add_weight(
            shape=(self.token_embedding.input_dim,), initializer="zeros", name="output_bias"
        )
        self.built = True

    def call(self, backbone_outputs, batch):
        sequence = backbone_outputs["sequence_output"]
        gathered = gather_by_one_hot(sequence, batch["masked_lm_positions"])
        hidden = self.layer_norm(self.transform(gathered))
        return ops.matmul(hidden, ops.transpose(self.token_embedding.embeddings)) + self.output_bias


class MaskedLM(PretrainingTask):
    """Masks 15% of the non-special tokens (80% [MASK], 10% random, 10% kept), afresh per batch.

    Args:
        max_predictions_per_seq: int. At most this many masked positions P per sequence.
        mask_rate: float. Share of non-special tokens selected.
        (others: see `PretrainingTask`)
    """

    name = "masked_lm"

    def __init__(
        self,
        vocabulary_size,
        max_seq_length,
        loss_weight=1.0,
        max_predictions_per_seq=20,
        mask_rate=0.15,
        special_ids=SpecialTokenIds(),
    ):
        super().__init__(vocabulary_size, max_seq_length, loss_weight, special_ids)
        if max_predictions_per_seq <= 0:
            raise InputError(
                f"--max_predictions_per_seq={max_predictions_per_seq}: expected a positive number"
            )
        if not 0 < mask_rate <= 1:
            raise InputError(f"--mask_rate={mask_rate}: expected a share in (0, 1]")
        self.max_predictions_per_seq = max_predictions_per_seq
        self.mask_rate = mask_rate

    def preprocess(self, batch):
        selector = tf_text.RandomItemSelector(
            max_selections_per_batch=self.max_predictions_per_seq,
            selection_rate=self.mask_rate,
            unselectable_ids=list(self.special_ids.all()),
            shuffle_fn=_seeded_shuffle(tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)),
        )
        chooser = tf_text.MaskValuesChooser(self.vocabulary_size, self.special_ids.mask, 0.8, 0.1)
        masked_ids, positions, original_ids = tf_text.mask_language_model(
            batch["token_ids"], selector, chooser
        )
        positions, weights = tf_text.pad_model_inputs(positions, self.max_predictions_per_seq)
        original_ids, _ = tf_text.pad_model_inputs(original_ids, self.max_predictions_per_seq)
        return dict(
            batch,
            token_ids=masked_ids,
            masked_lm_positions=tf.cast(positions, tf.int32),
            masked_lm_ids=tf.cast(original_ids, tf.int32),
            masked_lm_weights=tf.cast(weights, tf.float32),
        )

    def build_head(self, backbone):
        return MaskedLMHead(backbone.token_embedding, name=self.name)

    def loss_and_metrics(self, logits, batch):
        labels = batch["masked_lm_ids"]
        weights = ops.cast(batch["masked_lm_weights"], "float32")
        per_position = keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True
        )
        total_weight = ops.sum(weights) + 1e-5
        loss = ops.sum(per_position * weights) / total_weight
        correct = ops.cast(
            ops.equal(ops.argmax(logits, axis=-1), ops.cast(labels, "int64")), "float32"
        )
        accuracy = ops.sum(correct * weights) / total_weight
        return loss, {"loss": loss, "accuracy": accuracy}
