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


class _Projection(keras.layers.Layer):
    """A kernel and a bias, no computation: `SelfAttention` holds its four projections in
    these, in keras `MultiHeadAttention`'s shapes and under its names, so weights keep their
    paths (`.../attention/query/kernel`) in weight files and checkpoint importers."""

    def __init__(self, kernel_shape, bias_shape, kernel_initializer, **kwargs):
        super().__init__(**kwargs)
        self.kernel = self.add_weight(
            shape=kernel_shape, initializer=kernel_initializer, name="kernel"
        )
        self.bias = self.add_weight(shape=bias_shape, initializer="zeros", name="bias")
        self.built = True


@keras.saving.register_keras_serializable(package="bert_tf")
class SelfAttention(keras.layers.Layer):
    """Multi-head self-attention computing what keras `MultiHeadAttention(x, x)` does, with
    the same weights, but projecting Q, K and V with one matmul against their kernels
    concatenated ([B, S, H] x [H, 3W]) instead of three einsums.

    Weights, as `MultiHeadAttention`'s: `query`, `key`, `value` kernel [H, heads, head_dim]
    and bias [heads, head_dim]; `attention_output` kernel [heads, head_dim, H] and bias [H].
    Unlike it, a query row with no key to attend to (a sequence of padding only) averages
    the values instead of giving zeros.

    Args:
        num_heads: int. Attention heads.
        head_dim: int. Width of each head; W = num_heads * head_dim.
        dropout: float. Dropout on the attention probabilities.
        kernel_initializer: initializer of the kernels (each gets its own clone).

    Call: `x` float [B, S, H], `attention_mask` bool [B, S, S] (True: the query attends to
    the key) -> float [B, S, H].
    """

    def __init__(
        self, num_heads, head_dim, dropout=0.0, kernel_initializer="glorot_uniform", **kwargs
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.dropout_rate = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        hidden, heads, size = input_shape[-1], self.num_heads, self.head_dim

        def projection(name, kernel_shape, bias_shape):
            # A clone per kernel: one seeded initializer would give them all the same values.
            initializer = self.kernel_initializer.from_config(self.kernel_initializer.get_config())
            return _Projection(kernel_shape, bias_shape, initializer, name=name)

        # In MultiHeadAttention's order, so that a seed gives the same initial weights.
        self.query = projection("query", (hidden, heads, size), (heads, size))
        self.key = projection("key", (hidden, heads, size), (heads, size))
        self.value = projection("value", (hidden, heads, size), (heads, size))
        self.probability_dropout = keras.layers.Dropout(self.dropout_rate, name="dropout")
        self.attention_output = projection("attention_output", (heads, size, hidden), (hidden,))
        self.built = True

    def call(self, x, attention_mask, training=None):
        batch, length, hidden = ops.shape(x)[0], ops.shape(x)[1], x.shape[-1]
        heads, width = self.num_heads, self.num_heads * self.head_dim
        projections = (self.query, self.key, self.value)
        kernels = [ops.reshape(p.kernel, (hidden, width)) for p in projections]
        biases = [ops.reshape(p.bias, (width,)) for p in projections]
        # The scores' 1/sqrt(head_dim), put in the query's weights: cheaper than on [B, S, W].
        scale = 1.0 / self.head_dim**0.5
        kernels[0], biases[0] = kernels[0] * scale, biases[0] * scale
        fused = ops.matmul(x, ops.concatenate(kernels, -1)) + ops.concatenate(biases, -1)
        fused = ops.reshape(fused, (batch, length, 3, heads, self.head_dim))
        query, key, value = ops.unstack(ops.transpose(fused, (2, 0, 3, 1, 4)))  # [B, heads, S, d]
        scores = ops.matmul(query, ops.swapaxes(key, -1, -2))  # [B, heads, S, S]
        # A large negative, not -inf, as MultiHeadAttention: a row with nothing to attend to
        # gets no NaN.
        scores = ops.where(attention_mask[:, None], ops.cast(scores, "float32"), -1e9)
        # The softmax in float32 whatever the policy: in bfloat16 its sum loses the small terms.
        probabilities = ops.cast(ops.softmax(scores, axis=-1), value.dtype)
        probabilities = self.probability_dropout(probabilities, training=training)
        context = ops.transpose(ops.matmul(probabilities, value), (0, 2, 1, 3))  # [B, S, heads, d]
        context = ops.reshape(context, (batch, length, width))
        output_kernel = ops.reshape(self.attention_output.kernel, (width, hidden))
        return ops.matmul(context, output_kernel) + self.attention_output.bias

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            head_dim=self.head_dim,
            dropout=self.dropout_rate,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config


@keras.saving.register_keras_serializable(package="bert_tf")
class TransformerBlock(keras.layers.Layer):
    """One encoder block: self-attention, then a GELU feed-forward, each on a residual branch.

    Post-LayerNorm (BERT's): `x = norm(x + branch(x))`. Pre-LayerNorm (`normalize_first`; GPT-2's,
    and cramming's for short budgets, Geiping & Goldstein 2023): `x = x + branch(norm(x))`, which
    keeps an identity path through the stack and tolerates higher learning rates.

    Args:
        num_heads: int. Attention heads; must divide `hidden_dim`.
        hidden_dim: int. Width H.
        intermediate_dim: int. Feed-forward width.
        dropout: float. Dropout on attention probabilities and on each residual branch.
        activation: str. The feed-forward activation, a key of `ACTIVATIONS`.
        layer_norm_epsilon: float. The LayerNorms' epsilon.
        normalize_first: bool. Pre-LayerNorm instead of post-LayerNorm. The weights are the
            same either way.

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
        normalize_first=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.normalize_first = normalize_first
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout_rate = dropout
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.attention = SelfAttention(
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
        self.attention.build(input_shape)
        self.attention_norm.build(input_shape)
        self.intermediate.build(input_shape)
        self.output_dense.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        self.output_norm.build(input_shape)
        self.built = True

    def call(self, x, attention_mask, training=None):
        if self.normalize_first:
            attended = self.attention(self.attention_norm(x), attention_mask, training=training)
            x = x + self.attention_dropout(attended, training=training)
            feed_forward = self.output_dense(self.intermediate(self.output_norm(x)))
            return x + self.output_dropout(feed_forward, training=training)
        attended = self.attention(x, attention_mask, training=training)
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
            normalize_first=self.normalize_first,
        )
        return config


@keras.saving.register_keras_serializable(package="bert_tf")
class TransformerBackbone(Backbone):
    """BERT encoder: embeddings, `num_layers` Transformer blocks, pooled = tanh(dense([CLS])).

    With `normalize_first` the blocks are pre-LayerNorm and one more LayerNorm (`final_norm`)
    follows the last, so the outputs are normalized as post-LayerNorm's are.

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
        normalize_first: bool. Pre-LayerNorm blocks and a final LayerNorm; False is BERT's
            post-LayerNorm, which published checkpoints have.

    Inputs: dict `token_ids`, `segment_ids`, `padding_mask` int32 [B, S].
    Outputs: dict `sequence_output` [B, S, H], `pooled_output` [B, H].

    Raises:
        InputError: an unknown `intermediate_activation`.
    """

    #: 2e-3: valid preferred it to 1e-3 after fine-tuning at 20 CPU-minutes of pretraining, on
    #: two pretraining seeds (docs/benchmarks/quality_per_minute_levers20*.md), and at
    #: --budget=full's 8,356 steps (docs/benchmarks/pretrain_vs_scratch_full.md); 4e-3 broke
    #: its post-LayerNorm training.
    DEFAULT_PRETRAIN_LEARNING_RATE = 2e-3
    #: 3e-3: on the bundle pretrained at 2e-3 the pretrain-vs-scratch benchmark chose it on
    #: valid mean-F1, 0.413 against 0.403 at 1e-3 over 3 seeds (docs/benchmarks/
    #: pretrain_vs_scratch_full.md; it chose 1e-3 on the bundles pretrained at 1e-3).
    DEFAULT_FINETUNE_LEARNING_RATE = 3e-3

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
        normalize_first=False,
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
                normalize_first,
                name=f"transformer_layer_{i}",
            )
            x = block(x, attention_mask)
            blocks.append(block)
        if normalize_first:
            x = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name="final_norm")(x)
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
