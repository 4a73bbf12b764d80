"""A TextCNN backbone that keeps one vector per position, so a masked LM can train it."""

import keras
from keras import ops

from bert_tf.embeddings import BertEmbeddings


@keras.saving.register_keras_serializable(package="bert_tf")
class ConvolutionBlock(keras.layers.Layer):
    """Same-padded convolutions of several widths, concatenated, projected back to H.

    Padding positions are zeroed before convolving, so a sequence's output does not depend on
    how much padding its batch has. Residual connection, then LayerNorm.

    Args:
        hidden_dim: int. Width H.
        filters: int. Filters per kernel width.
        kernel_sizes: list[int]. Kernel widths (odd widths keep the window centred).
        dropout: float. Dropout on the projected output.

    Call: `x` float [B, S, H], `padding_mask` int [B, S] -> float [B, S, H].
    """

    def __init__(self, hidden_dim, filters, kernel_sizes, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.filters = filters
        self.kernel_sizes = list(kernel_sizes)
        self.dropout_rate = dropout
        self.convolutions = [
            keras.layers.Conv1D(
                filters, width, padding="same", activation="gelu", name=f"conv_{width}"
            )
            for width in self.kernel_sizes
        ]
        self.projection = keras.layers.Dense(hidden_dim, name="projection")
        self.dropout = keras.layers.Dropout(dropout, name="dropout")
        self.layer_norm = keras.layers.LayerNormalization(epsilon=1e-12, name="layer_norm")

    def build(self, input_shape):
        for convolution in self.convolutions:
            convolution.build(input_shape)
        self.projection.build(tuple(input_shape[:-1]) + (self.filters * len(self.kernel_sizes),))
        self.layer_norm.build(input_shape)
        self.built = True

    def call(self, x, padding_mask, training=None):
        mask = ops.cast(padding_mask, x.dtype)[:, :, None]
        masked = x * mask
        features = ops.concatenate([conv(masked) for conv in self.convolutions], axis=-1)
        projected = self.dropout(self.projection(features), training=training)
        return self.layer_norm(x + projected) * mask

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dim=self.hidden_dim,
            filters=self.filters,
            kernel_sizes=self.kernel_sizes,
            dropout=self.dropout_rate,
        )
        return config


@keras.saving.register_keras_serializable(package="bert_tf")
class TextCNNBackbone(keras.Model):
    """Embeddings, `num_layers` convolution blocks; pooled = dense(tanh) of a masked max.

    Args:
        vocabulary_size: int. Token ids.
        num_layers: int. Stacked convolution blocks.
        hidden_dim: int. Width H.
        filters: int. Filters per kernel width in each block.
        kernel_sizes: list[int]. Kernel widths in each block.
        dropout: float. Dropout rate.
        max_sequence_length: int. Learned positions.
        num_segments: int. Segment ids.

    Inputs: dict `token_ids`, `segment_ids`, `padding_mask` int32 [B, S].
    Outputs: dict `sequence_output` [B, S, H], `pooled_output` [B, H].
    """

    PRESETS = {
        "tiny": dict(num_layers=2, hidden_dim=128, filters=128, kernel_sizes=[3, 5, 7]),
        "mini": dict(num_layers=4, hidden_dim=256, filters=256, kernel_sizes=[3, 5, 7]),
        "small": dict(num_layers=4, hidden_dim=512, filters=512, kernel_sizes=[3, 5, 7]),
        "base": dict(num_layers=8, hidden_dim=768, filters=768, kernel_sizes=[3, 5, 7]),
    }

    def __init__(
        self,
        vocabulary_size,
        num_layers=2,
        hidden_dim=128,
        filters=128,
        kernel_sizes=(3, 5, 7),
        dropout=0.1,
        max_sequence_length=512,
        num_segments=2,
        **kwargs,
    ):
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")

        embeddings = BertEmbeddings(
            vocabulary_size,
            hidden_dim,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
            dropout=dropout,
            name="embeddings",
        )
        x = embeddings(token_ids, segment_ids)
        for i in range(num_layers):
            block = ConvolutionBlock(
                hidden_dim, filters, kernel_sizes, dropout, name=f"conv_layer_{i}"
            )
            x = block(x, padding_mask)
        max_pooled = keras.layers.Lambda(_masked_max, name="masked_max")([x, padding_mask])
        pooled = keras.layers.Dense(hidden_dim, activation="tanh", name="pooler")(max_pooled)
        super().__init__(
            inputs={
                "token_ids": token_ids,
                "segment_ids": segment_ids,
                "padding_mask": padding_mask,
            },
            outputs={"sequence_output": x, "pooled_output": pooled},
            **kwargs,
        )
        self.token_embedding = embeddings.token_embedding
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.hidden_dim = hidden_dim
        self.filters = filters
        self.kernel_sizes = list(kernel_sizes)
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments

    def get_config(self):
        return dict(
            vocabulary_size=self.vocabulary_size,
            num_layers=self.num_layers,
            hidden_dim=self.hidden_dim,
            filters=self.filters,
            kernel_sizes=self.kernel_sizes,
            dropout=self.dropout,
            max_sequence_length=self.max_sequence_length,
            num_segments=self.num_segments,
        )

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _masked_max(inputs):
    """Max over the non-padding positions: [B, S, H], [B, S] -> [B, H]."""
    x, padding_mask = inputs
    real = ops.cast(padding_mask, "bool")[:, :, None]
    return ops.max(ops.where(real, x, ops.full_like(x, -1e9)), axis=1)
