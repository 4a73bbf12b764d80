"""BERT's Transformer encoder as a backbone."""

import keras
from keras import ops

from backbones.base import Backbone, backbone_inputs
from backbones.embeddings import BertEmbeddings
from bert_tf.errors import InputError

#: The feed-forward activations by name. `gelu` is the exact (erf) GELU; `gelu_approximate` is
#: its tanh approximation, which Google's BERT code calls "gelu" and keras-hub's BERT uses.
ACTIVATIONS = {
    "gelu": lambda x: keras.activations.gelu(x, approximate=False),
    "gelu_approximate": lambda x: keras.activations.gelu(x, approximate=True),
    "relu": keras.activations.relu,
    "tanh": keras.activations.tanh,
}


def _dense_init():
    return keras.initializers.TruncatedNormal(stddev=0.02)


@keras.saving.register_keras_serializable(package="bert_tf")
class TransformerBlock(keras.layers.Layer):
    """One post-LayerNorm encoder block: self-attention, then a GELU feed-forward.

    Args:
        num_heads: int. Attention heads; must divide `hidden_dim`.
        hidden_dim: int. Width H.
        intermediate_dim: int. Feed-forward width.
        dropout: float. Dropout on attention probabilities and on each residual branch.
        activation: str. The feed-forward activation, a key of `ACTIVATIONS`.
        layer_norm_epsilon: float. The LayerNorms' epsilon.

    Call: `x` float [B, S, H], `attention_mask` bool [B, S, S] -> float [B, S, H].
    """

    def __init__(
        self,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.1,
        activation="gelu",
        layer_norm_epsilon=1e-12,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout_rate = dropout
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.attention = keras.layers.MultiHeadAttention(
            num_heads,
            hidden_dim // num_heads,
            dropout=dropout,
            kernel_initializer=_dense_init(),
            name="attention",
        )
        self.attention_dropout = keras.layers.Dropout(dropout, name="attention_dropout")
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="attention_norm"
        )
        self.intermediate = keras.layers.Dense(
            intermediate_dim,
            activation=ACTIVATIONS[activation],
            kernel_initializer=_dense_init(),
            name="intermediate",
        )
        self.output_dense = keras.layers.Dense(
            hidden_dim, kernel_initializer=_dense_init(), name="output"
        )
        self.output_dropout = keras.layers.Dropout(dropout, name="output_dropout")
        self.output_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="output_norm"
        )

    def build(self, input_shape):
        self.attention.build(input_shape, input_shape)
        self.attention_norm.build(input_shape)
        self.intermediate.build(input_shape)
        self.output_dense.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        self.output_norm.build(input_shape)
        self.built = True

    def call(self, x, attention_mask, training=None):
        attended = self.attention(x, x, attention_mask=attention_mask, training=training)
        x = self.attention_norm(x + self.attention_dropout(attended, training=training))
        feed_forward = self.output_dense(self.intermediate(x))
        return self.output_norm(x + self.output_dropout(feed_forward, training=training))

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            hidden_dim=self.hidden_dim,
            intermediate_dim=self.intermediate_dim,
            dropout=self.dropout_rate,
            activation=self.activation,
            layer_norm_epsilon=self.layer_norm_epsilon,
        )
        return config


@keras.saving.register_keras_serializable(package="bert_tf")
class TransformerBackbone(Backbone):
    """BERT encoder: embeddings, `num_layers` Transformer blocks, pooled = tanh(dense([CLS])).

    Args:
        vocabulary_size: int. Token ids.
        num_layers: int. Encoder blocks.
        num_heads: int. Attention heads per block.
        hidden_dim: int. Width H.
        intermediate_dim: int. Feed-forward width.
        dropout: float. Dropout rate everywhere.
        max_sequence_length: int. Learned positions.
        num_segments: int. Segment ids.
        intermediate_activation: str. Feed-forward activation: gelu (exact), gelu_approximate
            (tanh; Google's and keras-hub's BERT), relu or tanh.
        layer_norm_epsilon: float. Epsilon of every LayerNorm.

    Inputs: dict `token_ids`, `segment_ids`, `padding_mask` int32 [B, S].
    Outputs: dict `sequence_output` [B, S, H], `pooled_output` [B, H].

    Raises:
        InputError: an unknown `intermediate_activation`.
    """

    PRESETS = {
        "tiny": dict(num_layers=2, num_heads=2, hidden_dim=128, intermediate_dim=512),
        "mini": dict(num_layers=4, num_heads=4, hidden_dim=256, intermediate_dim=1024),
        "small": dict(num_layers=4, num_heads=8, hidden_dim=512, intermediate_dim=2048),
        "base": dict(num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072),
    }

    def __init__(
        self,
        vocabulary_size,
        num_layers=2,
        num_heads=2,
        hidden_dim=128,
        intermediate_dim=512,
        dropout=0.1,
        max_sequence_length=512,
        num_segments=2,
        intermediate_activation="gelu",
        layer_norm_epsilon=1e-12,
        **kwargs,
    ):
        config = {k: v for k, v in locals().items() if k not in ("self", "kwargs", "__class__")}
        if intermediate_activation not in ACTIVATIONS:
            raise InputError(
                f"intermediate_activation={intermediate_activation!r}: expected one of "
                f"{sorted(ACTIVATIONS)}"
            )
        inputs = backbone_inputs()
        token_ids, segment_ids = inputs["token_ids"], inputs["segment_ids"]
        padding_mask = inputs["padding_mask"]

        embeddings = BertEmbeddings(
            vocabulary_size,
            hidden_dim,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
            dropout=dropout,
            layer_norm_epsilon=layer_norm_epsilon,
            name="embeddings",
        )
        x = embeddings(token_ids, segment_ids)
        attention_mask = keras.layers.Lambda(self_attention_mask, name="attention_mask")(
            padding_mask
        )
        blocks = []
        for i in range(num_layers):
            block = TransformerBlock(
                num_heads,
                hidden_dim,
                intermediate_dim,
                dropout,
                intermediate_activation,
                layer_norm_epsilon,
                name=f"transformer_layer_{i}",
            )
            x = block(x, attention_mask)
            blocks.append(block)
        cls_vector = keras.layers.Lambda(lambda s: s[:, 0, :], name="cls_token")(x)
        pooled = keras.layers.Dense(
            hidden_dim, activation="tanh", kernel_initializer=_dense_init(), name="pooler"
        )(cls_vector)
        super().__init__(
            inputs,
            {"sequence_output": x, "pooled_output": pooled},
            embeddings.token_embedding,
            config,
            embeddings,
            blocks,
            **kwargs,
        )


def self_attention_mask(padding_mask):
    """[B, S] padding mask -> [B, S, S] bool: every query attends to the real tokens."""
    keys = ops.cast(padding_mask, "bool")[:, None, :]
    return ops.broadcast_to(keys, (ops.shape(padding_mask)[0],) + (ops.shape(padding_mask)[1],) * 2)
