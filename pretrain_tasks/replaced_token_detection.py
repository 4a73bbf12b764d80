"""ELECTRA's replaced-token detection (Clark et al., 2020): tell the tokens a small masked LM
put into the text from the original ones.

A generator, a small Transformer masked LM over the backbone's own input embeddings, fills the
masked positions with samples from its softmax; the backbone (the discriminator) reads that
corrupted text and a per-token head says which tokens were replaced. The discriminator learns
from every token, not only the 15% a masked LM predicts, which is why ELECTRA beats masked LM
at equal compute for small models. The generator lives in the head: fine-tuning loads the
backbone alone, and resuming pretraining restores the generator with the heads.
"""

import keras
from keras import ops

from backbones.transformer import TransformerBlock, self_attention_mask
from bert_tf.errors import InputError
from bert_tf.tokenization import SpecialTokenIds
from pretrain_tasks.base import PretrainingTask
from pretrain_tasks.masked_lm import (
    MaskedLMHead,
    check_masking_settings,
    mask_tokens,
    masked_lm_loss_and_accuracy,
)

NAME = "replaced_token_detection"
#: The batch keys of the masked positions [B, P], the original ids there [B, P] and their
#: weights [B, P] (from preprocessing), and of what the generator drew in the model's call:
#: its logits [B, P, V] and the discriminator's labels [B, S] (1 = replaced).
POSITIONS, ORIGINAL_IDS, WEIGHTS = f"{NAME}_positions", f"{NAME}_ids", f"{NAME}_weights"
GENERATOR_LOGITS, LABELS = f"{NAME}_generator_logits", f"{NAME}_labels"
#: ELECTRA's generator input: 85% of the selected tokens become [MASK] and 15% stay, none turn
#: into a random token (its `pretrain_helpers.mask`). The discriminator never sees this input,
#: so random tokens here would only blur what the generator learns.
MASK_TOKEN_RATE, RANDOM_TOKEN_RATE = 0.85, 0.0
#: The generator's attention head width, as in ELECTRA's generators (64).
GENERATOR_HEAD_DIM = 64


def _dense_init():
    return keras.initializers.TruncatedNormal(stddev=0.02)


def replace_tokens(token_ids, positions, original_ids, weights, samples):
    """Puts the samples at their positions and labels the tokens that changed.

    A sample equal to the original token is not a replacement (label 0), as in ELECTRA.
    Positions are scattered by one-hot, like the masked LM's gathering.

    Args:
        token_ids: int [B, S]. The sequence the samples go into.
        positions: int [B, P]. Distinct positions in [0, S) per row; padding slots anywhere.
        original_ids: int [B, P]. The original token at each position.
        weights: [B, P]. 1 for a real position, 0 for a padding slot (left alone).
        samples: int [B, P]. The generator's token for each position.

    Returns:
        (int32 [B, S] the sequence with the samples in, int32 [B, S] 1 where a token was
        replaced by another and 0 elsewhere).
    """
    token_ids = ops.cast(token_ids, "int32")
    slots = ops.one_hot(ops.cast(positions, "int32"), ops.shape(token_ids)[1], dtype="int32")
    slots = slots * ops.cast(weights, "int32")[:, :, None]
    selected = ops.sum(slots, axis=1)
    sampled = ops.sum(slots * ops.cast(samples, "int32")[:, :, None], axis=1)
    changed = ops.cast(
        ops.not_equal(ops.cast(samples, "int32"), ops.cast(original_ids, "int32")), "int32"
    )
    labels = ops.sum(slots * changed[:, :, None], axis=1)
    return token_ids * (1 - selected) + sampled, labels


@keras.saving.register_keras_serializable(package="bert_tf")
class Generator(keras.layers.Layer):
    """ELECTRA's generator: a narrow Transformer masked LM over the backbone's input embeddings.

    The embeddings (token, segment, position) are the backbone's, shared, and projected down to
    the generator's width; its logits are tied to the backbone's token embedding.

    Args:
        embeddings: keras.layers.Layer. The backbone's, called as `embeddings(token_ids,
            segment_ids)` -> [B, S, E].
        token_embedding: keras.layers.Embedding. The backbone's [V, E].
        hidden_dim: int. The generator's width G.
        num_layers: int. Transformer blocks.
        num_heads: int. Attention heads per block.
        dropout: float. Dropout in the blocks.

    Call: `inputs` dict (`token_ids` with the masks, `segment_ids`, `padding_mask` [B, S]),
        `batch` dict with the masked positions [B, P] -> logits float [B, P, V].
    """

    def __init__(
        self, embeddings, token_embedding, hidden_dim, num_layers, num_heads, dropout, **kwargs
    ):
        super().__init__(**kwargs)
        self.embeddings = embeddings
        self.embedding_dim = token_embedding.output_dim
        self.hidden_dim = hidden_dim
        self.projection = keras.layers.Dense(
            hidden_dim, kernel_initializer=_dense_init(), name="embedding_projection"
        )
        self.blocks = [
            TransformerBlock(
                num_heads, hidden_dim, 4 * hidden_dim, dropout, name=f"transformer_layer_{i}"
            )
            for i in range(num_layers)
        ]
        self.lm_head = MaskedLMHead(token_embedding, positions_key=POSITIONS, name="lm_head")

    def build(self, inputs_shape, batch_shape=None):
        batch_size, length = inputs_shape["token_ids"]
        self.projection.build((batch_size, length, self.embedding_dim))
        shape = (batch_size, length, self.hidden_dim)
        for block in self.blocks:
            block.build(shape)
        self.lm_head.build({"sequence_output": shape})
        self.built = True

    def call(self, inputs, batch, training=False):
        x = self.embeddings(inputs["token_ids"], inputs["segment_ids"], training=training)
        x = self.projection(x)
        attention_mask = self_attention_mask(inputs["padding_mask"])
        for block in self.blocks:
            x = block(x, attention_mask, training=training)
        return self.lm_head({"sequence_output": x}, batch)


@keras.saving.register_keras_serializable(package="bert_tf")
class ReplacedTokenDetectionHead(keras.layers.Layer):
    """The generator, which corrupts the backbone's input, and the discriminator's head.

    `corrupt` runs before the backbone (the task's `rewrite_backbone_inputs`); the call, on the
    backbone's outputs, gives one replaced-or-not logit per token: dense + GELU, then dense to 1,
    as ELECTRA's discriminator head.

    Args:
        generator: Generator. Its weights are this head's.
        hidden_dim: int. Width of the discriminator head's hidden layer.

    Call: `backbone_outputs` dict, `batch` dict with the generator's logits and the labels
        -> dict `generator_logits` [B, P, V], `discriminator_logits` [B, S], `labels` [B, S].
    """

    def __init__(self, generator, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.hidden_dim = hidden_dim
        self.seed_generator = keras.random.SeedGenerator()
        self.transform = keras.layers.Dense(
            hidden_dim, activation="gelu", kernel_initializer=_dense_init(), name="transform"
        )
        self.logit = keras.layers.Dense(1, kernel_initializer=_dense_init(), name="logit")

    def corrupt(self, inputs, batch, training=False):
        """The generator's logits at the masked positions, and the backbone's inputs with its
        samples there.

        Returns:
            (inputs dict with the corrupted `token_ids` [B, S], generator logits [B, P, V],
            labels int32 [B, S]).
        """
        # Under this head's name, so the generator's weight paths sit under the head's.
        with keras.name_scope(self.name, caller=self):
            logits = self.generator(inputs, batch, training=training)
        vocabulary_size = ops.shape(logits)[-1]
        samples = keras.random.categorical(
            ops.reshape(ops.stop_gradient(logits), (-1, vocabulary_size)),
            1,
            seed=self.seed_generator,
        )
        samples = ops.reshape(samples, ops.shape(batch[POSITIONS]))
        corrupted, labels = replace_tokens(
            inputs["token_ids"], batch[POSITIONS], batch[ORIGINAL_IDS], batch[WEIGHTS], samples
        )
        return dict(inputs, token_ids=corrupted), logits, labels

    def build(self, backbone_outputs_shape, batch_shape=None):
        sequence_shape = backbone_outputs_shape["sequence_output"]
        self.transform.build(sequence_shape)
        self.logit.build(tuple(sequence_shape[:-1]) + (self.hidden_dim,))
        self.built = True

    def call(self, backbone_outputs, batch):
        hidden = self.transform(backbone_outputs["sequence_output"])
        return {
            "generator_logits": batch[GENERATOR_LOGITS],
            "discriminator_logits": ops.squeeze(self.logit(hidden), axis=-1),
            "labels": batch[LABELS],
        }


class ReplacedTokenDetection(PretrainingTask):
    """ELECTRA: a small generator fills masked positions; the backbone spots its replacements.

    The loss is the generator's masked-LM loss plus `discriminator_loss_weight` times the
    discriminator's (sigmoid cross-entropy over the non-padding tokens). No gradient flows
    through the sampling: the generator learns from its own loss, the shared embeddings from
    both. Metrics: `accuracy` is the discriminator's over the non-padding tokens (an always
    "original" guess scores 1 - `replaced_share`), plus `generator_loss`,
    `generator_accuracy`, `discriminator_loss` and `replaced_share`.

    Args:
        max_predictions_per_seq: int. At most this many masked positions P per sequence.
        mask_rate: float. Share of non-special tokens selected.
        generator_width_fraction: float. The generator's width as a share of the backbone's
            hidden width (ELECTRA-Small uses 1/4; its paper found 1/4 to 1/2 best, and the
            smaller costs less per step); its depth is the backbone's.
        discriminator_loss_weight: float. Weight of the discriminator's loss against the
            generator's (ELECTRA uses 50: per token, the binary loss is much smaller).
        (others: see `PretrainingTask`)
    """

    name = NAME
    corrupts_tokens = True
    metric_names = (
        "loss",
        "accuracy",
        "generator_loss",
        "generator_accuracy",
        "discriminator_loss",
        "replaced_share",
    )

    def __init__(
        self,
        vocabulary_size,
        max_seq_length,
        loss_weight=1.0,
        max_predictions_per_seq=20,
        mask_rate=0.15,
        generator_width_fraction=0.25,
        discriminator_loss_weight=50.0,
        special_ids=SpecialTokenIds(),
    ):
        super().__init__(vocabulary_size, max_seq_length, loss_weight, special_ids)
        check_masking_settings(max_predictions_per_seq, mask_rate)
        if not 0 < generator_width_fraction <= 1:
            raise InputError(
                f"--generator_width_fraction={generator_width_fraction}: expected a share in "
                "(0, 1]"
            )
        if discriminator_loss_weight <= 0:
            raise InputError(
                f"--discriminator_loss_weight={discriminator_loss_weight}: expected a positive "
                "number"
            )
        self.max_predictions_per_seq = max_predictions_per_seq
        self.mask_rate = mask_rate
        self.generator_width_fraction = generator_width_fraction
        self.discriminator_loss_weight = discriminator_loss_weight

    def preprocess(self, batch):
        masked_ids, positions, original_ids, weights = mask_tokens(
            batch["token_ids"],
            vocabulary_size=self.vocabulary_size,
            special_ids=self.special_ids,
            max_predictions_per_seq=self.max_predictions_per_seq,
            mask_rate=self.mask_rate,
            mask_token_rate=MASK_TOKEN_RATE,
            random_token_rate=RANDOM_TOKEN_RATE,
        )
        return dict(
            batch,
            token_ids=masked_ids,
            **{POSITIONS: positions, ORIGINAL_IDS: original_ids, WEIGHTS: weights},
        )

    def build_head(self, backbone):
        """The head with a generator shaped after `backbone`: its width times
        `generator_width_fraction`, its depth, its dropout.

        Raises:
            InputError: the backbone declares no input embeddings or no blocks (`Backbone`'s
                `embeddings` and `blocks`), which the generator shares and mirrors.
        """
        if backbone.embeddings is None or not backbone.blocks:
            raise InputError(
                f"{self.name} shares the backbone's input embeddings with its generator and "
                f"gives the generator the backbone's depth; backbone {backbone.name!r} declares "
                "no `embeddings` or no `blocks`"
            )
        width = backbone.token_embedding.output_dim
        generator_dim = max(1, round(width * self.generator_width_fraction))
        generator = Generator(
            backbone.embeddings,
            backbone.token_embedding,
            hidden_dim=generator_dim,
            num_layers=len(backbone.blocks),
            num_heads=max(1, generator_dim // GENERATOR_HEAD_DIM),
            dropout=backbone.get_config().get("dropout", 0.0),
            name="generator",
        )
        return ReplacedTokenDetectionHead(generator, width, name=self.name)

    def rewrite_backbone_inputs(self, head, inputs, batch, training=False):
        corrupted, logits, labels = head.corrupt(inputs, batch, training=training)
        return corrupted, dict(batch, **{GENERATOR_LOGITS: logits, LABELS: labels})

    def loss_and_metrics(self, head_output, batch):
        generator_loss, generator_accuracy = masked_lm_loss_and_accuracy(
            head_output["generator_logits"], batch[ORIGINAL_IDS], batch[WEIGHTS]
        )
        labels = ops.cast(head_output["labels"], "float32")
        logits = head_output["discriminator_logits"]
        tokens = ops.cast(batch["padding_mask"], "float32")
        num_tokens = ops.sum(tokens) + 1e-5
        per_token = ops.binary_crossentropy(labels, logits, from_logits=True)
        discriminator_loss = ops.sum(per_token * tokens) / num_tokens
        correct = ops.cast(ops.equal(ops.cast(logits > 0, "float32"), labels), "float32")
        loss = generator_loss + self.discriminator_loss_weight * discriminator_loss
        figures = (
            loss,
            ops.sum(correct * tokens) / num_tokens,
            generator_loss,
            generator_accuracy,
            discriminator_loss,
            ops.sum(labels * tokens) / num_tokens,
        )
        return loss, dict(zip(self.metric_names, figures))
