"""Masked language model: predict 15% of the tokens from their context."""

import keras
import tensorflow as tf
import tensorflow_text as tf_text
from keras import ops

from bert_tf.errors import InputError
from bert_tf.tokenization import SpecialTokenIds
from pretrain_tasks.base import PretrainingTask
from pretrain_tasks.whole_words import WholeWordSelector, continuation_table, group_into_words


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


def check_masking_settings(max_predictions_per_seq, mask_rate) -> None:
    """Raises InputError for masking settings no run can use."""
    if max_predictions_per_seq <= 0:
        raise InputError(
            f"--max_predictions_per_seq={max_predictions_per_seq}: expected a positive number"
        )
    if not 0 < mask_rate <= 1:
        raise InputError(f"--mask_rate={mask_rate}: expected a share in (0, 1]")


def mask_tokens(
    token_ids,
    *,
    vocabulary_size,
    special_ids,
    max_predictions_per_seq,
    mask_rate,
    mask_token_rate=0.8,
    random_token_rate=0.1,
    continuation_ids=None,
):
    """Selects `mask_rate` of the non-special tokens of each row and masks them, in the graph.

    Of the selected tokens, `mask_token_rate` become [MASK], `random_token_rate` a random token
    and the rest stay. Selection and replacement draw from TF's stateful RNG, so the masks are
    new in every batch and follow TF's global seed.

    Args:
        token_ids: int ragged [B, None].
        vocabulary_size: int. Random replacements are drawn from [0, V).
        special_ids: SpecialTokenIds. Never selected; its [MASK] is the mask token.
        max_predictions_per_seq: int. At most P selected positions per row.
        mask_rate: float. Share of the non-special tokens selected.
        mask_token_rate: float. Share of the selected tokens that become [MASK].
        random_token_rate: float. Share of the selected tokens that become a random token.
        continuation_ids: sequence of int, or None. Given, whole words are masked: a word is a
            piece whose id is not in it with the pieces in it that follow (`whole_words`); the
            mask/random/kept choice stays per token, as in Google's BERT. None: tokens are
            selected one by one.

    Returns:
        (masked ids, ragged like `token_ids`; positions int32 [B, P]; the original ids at them,
        int32 [B, P]; weights float32 [B, P], 1 for a real position and 0 for padding).
    """
    batch_seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
    if continuation_ids is None:
        selector = tf_text.RandomItemSelector(
            max_selections_per_batch=max_predictions_per_seq,
            selection_rate=mask_rate,
            unselectable_ids=list(special_ids.all()),
            shuffle_fn=_seeded_shuffle(batch_seed),
        )
    else:
        token_ids = group_into_words(
            token_ids, continuation_table(continuation_ids, vocabulary_size)
        )
        selector = WholeWordSelector(
            mask_rate, max_predictions_per_seq, list(special_ids.all()), batch_seed
        )
    chooser = tf_text.MaskValuesChooser(
        vocabulary_size, special_ids.mask, mask_token_rate, random_token_rate
    )
    masked_ids, positions, original_ids = tf_text.mask_language_model(token_ids, selector, chooser)
    positions, weights = tf_text.pad_model_inputs(positions, max_predictions_per_seq)
    original_ids, _ = tf_text.pad_model_inputs(original_ids, max_predictions_per_seq)
    return (
        masked_ids,
        tf.cast(positions, tf.int32),
        tf.cast(original_ids, tf.int32),
        tf.cast(weights, tf.float32),
    )


def masked_lm_loss_and_accuracy(logits, labels, weights):
    """Sparse cross-entropy and accuracy averaged over the real predictions.

    Args:
        logits: float [B, P, V].
        labels: int [B, P]. The original token ids.
        weights: float [B, P]. 1 for a real prediction, 0 for padding.

    Returns:
        (loss, accuracy): float scalars.
    """
    weights = ops.cast(weights, "float32")
    per_position = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    total_weight = ops.sum(weights) + 1e-5
    loss = ops.sum(per_position * weights) / total_weight
    correct = ops.cast(ops.equal(ops.argmax(logits, axis=-1), ops.cast(labels, "int64")), "float32")
    accuracy = ops.sum(correct * weights) / total_weight
    return loss, accuracy


@keras.saving.register_keras_serializable(package="bert_tf")
class MaskedLMHead(keras.layers.Layer):
    """Dense + GELU + LayerNorm at the masked positions, then logits through the tied embedding.

    Args:
        token_embedding: keras.layers.Embedding. The backbone's token embedding [V, E]; the
            output projection is its transpose (tied), plus a bias of its own.
        positions_key: str. The batch key of the masked positions [B, P] (another task's
            masked LM, such as ELECTRA's generator, keeps them under its own name).

    Call: `backbone_outputs` dict, `batch` dict with the positions [B, P]
        -> logits float [B, P, V].
    """

    def __init__(self, token_embedding, positions_key="masked_lm_positions", **kwargs):
        super().__init__(**kwargs)
        self.token_embedding = token_embedding
        self.positions_key = positions_key
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
        gathered = gather_by_one_hot(sequence, batch[self.positions_key])
        hidden = self.layer_norm(self.transform(gathered))
        return ops.matmul(hidden, ops.transpose(self.token_embedding.embeddings)) + self.output_bias


class MaskedLM(PretrainingTask):
    """Masks 15% of the non-special tokens (80% [MASK], 10% random, 10% kept), afresh per batch.

    Args:
        max_predictions_per_seq: int. At most this many masked positions P per sequence.
        mask_rate: float. Share of non-special tokens selected.
        whole_word_masking: bool. Mask whole words: all the wordpieces of a word or none
            (Google's BERT). With a whitespace vocabulary every token is a word.
        continuation_ids: tuple of int. The ids of the pieces that continue a word
            (`Tokenizer.continuation_ids`), set by the core.
        (others: see `PretrainingTask`)
    """

    name = "masked_lm"
    corrupts_tokens = True

    def __init__(
        self,
        vocabulary_size,
        max_seq_length,
        loss_weight=1.0,
        max_predictions_per_seq=20,
        mask_rate=0.15,
        whole_word_masking=False,
        special_ids=SpecialTokenIds(),
        continuation_ids=(),
    ):
        super().__init__(vocabulary_size, max_seq_length, loss_weight, special_ids)
        check_masking_settings(max_predictions_per_seq, mask_rate)
        self.max_predictions_per_seq = max_predictions_per_seq
        self.mask_rate = mask_rate
        self.whole_word_masking = whole_word_masking
        self.continuation_ids = tuple(continuation_ids)

    def preprocess(self, batch):
        masked_ids, positions, original_ids, weights = mask_tokens(
            batch["token_ids"],
            vocabulary_size=self.vocabulary_size,
            special_ids=self.special_ids,
            max_predictions_per_seq=self.max_predictions_per_seq,
            mask_rate=self.mask_rate,
            continuation_ids=self.continuation_ids if self.whole_word_masking else None,
        )
        return dict(
            batch,
            token_ids=masked_ids,
            masked_lm_positions=positions,
            masked_lm_ids=original_ids,
            masked_lm_weights=weights,
        )

    def build_head(self, backbone):
        return MaskedLMHead(backbone.token_embedding, name=self.name)

    def loss_and_metrics(self, logits, batch):
        loss, accuracy = masked_lm_loss_and_accuracy(
            logits, batch["masked_lm_ids"], batch["masked_lm_weights"]
        )
        return loss, {"loss": loss, "accuracy": accuracy}
