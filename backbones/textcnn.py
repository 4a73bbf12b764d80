"""A TextCNN backbone that keeps one vector per position, so a masked LM can train it."""

import keras
from keras import ops

from backbones.base import Backbone, backbone_inputs
from backbones.embeddings import BertEmbeddings
from bert_tf.pooling import masked_max


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
class TextCNNBackbone(Backbone):
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

    #: Max over positions, as in Kim's TextCNN: on debian-tags `train_small.txt` it scored well
    #: above the masked mean, pretrained and from scratch alike (docs/benchmarks:
    #: pretrain_vs_scratch.md against pretrain_vs_scratch_meanpool.md).
    DEFAULT_POOLING = "max"
    #: Its pretrained arm chose 3e-3 on valid in every pretrain-vs-scratch report, on both
    #: labeled-set sizes.
    DEFAULT_FINETUNE_LEARNING_RATE = 3e-3
    #: Masked LM with next sentence: at --budget=full's 8,356 steps it tied masked LM alone on
    #: valid mean-F1 after fine-tuning (0.355 both, 3 seeds) for 16% less CPU (4.62 steps/s on
    #: sentence pairs against 3.91 on packed segments); docs/benchmarks/
    #: pretrain_vs_scratch_full_train_small_textcnn_nsp.md.
    DEFAULT_PRETRAIN_TASKS = ("masked_lm", "next_sentence")
    #: At --budget=full's length, pretraining at 2e-3 instead scored no better after
    #: fine-tuning (valid mean-F1 0.352 against 0.355, 3 seeds): docs/benchmarks/
    #: pretrain_vs_scratch_full_lr2e-3.md.
    DEFAULT_PRETRAIN_LEARNING_RATE = 1e-3

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
        config = {k: v for k, v in locals().items() if k not in ("self", "kwargs", "__class__")}
        config["kernel_sizes"] = list(kernel_sizes)  # JSON gives lists back
        inputs = backbone_inputs()
        token_ids, segment_ids = inputs["token_ids"], inputs["segment_ids"]
        padding_mask = inputs["padding_mask"]

        embeddings = BertEmbeddings(
            vocabulary_size,
            hidden_dim,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
            dropout=dropout,
            name="embeddings",
        )
        x = embeddings(token_ids, segment_ids)
        blocks = []
        for i in range(num_layers):
            block = ConvolutionBlock(
                hidden_dim, filters, kernel_sizes, dropout, name=f"conv_layer_{i}"
            )
            x = block(x, padding_mask)
            blocks.append(block)
        max_pooled = keras.layers.Lambda(lambda args: masked_max(*args), name="masked_max")(
            [x, padding_mask]
        )
        pooled = keras.layers.Dense(hidden_dim, activation="tanh", name="pooler")(max_pooled)
        super().__init__(
            inputs,
            {"sequence_output": x, "pooled_output": pooled},
            embeddings.token_embedding,
            config,
            embeddings,
            blocks,
            **kwargs,
        )
