"""The input embeddings every backbone shares: token + segment + learned position."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEmbeddings(keras.layers.Layer):
    """Sums token, segment and position embeddings, then LayerNorm and dropout.

    Args:
        vocabulary_size: int. Number of token ids.
        hidden_dim: int. Embedding width H.
        max_sequence_length: int. Number of learned positions.
        num_segments: int. Number of segment ids (2 for sentence pairs).
        dropout: float. Dropout rate after the LayerNorm.
        layer_norm_epsilon: float. The LayerNorm's epsilon.

    Call: `token_ids`, `segment_ids` int [B, S] -> float [B, S, H].
    """

    def __init__(
        self,
        vocabulary_size,
        hidden_dim,
        max_sequence_length=512,
        num_segments=2,
        dropout=0.1,
        layer_norm_epsilon=1e-12,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.hidden_dim = hidden_dim
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.dropout_rate = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, hidden_dim, embeddings_initializer=initializer, name="token_embedding"
        )
        self.segment_embedding = keras.layers.Embedding(
            num_segments, hidden_dim, embeddings_initializer=initializer, name="segment_embedding"
        )
        self.position_embedding = keras.layers.Embedding(
            max_sequence_length,
            hidden_dim,
            embeddings_initializer=initializer,
            name="position_embedding",
        )
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="layer_norm"
        )
        self.dropout = keras.layers.Dropout(dropout, name="dropout")

    def build(self, input_shape):
        self.token_embedding.build((None, None))
        self.segment_embedding.build((None, None))
        self.position_embedding.build((None, None))
        self.layer_norm.build((None, None, self.hidden_dim))
        self.built = True

    def call(self, token_ids, segment_ids, training=None):
        positions = ops.arange(ops.shape(token_ids)[1])
        x = (
            self.token_embedding(token_ids)
            + self.segment_embedding(segment_ids)
            + ops.expand_dims(self.position_embedding(positions), 0)
        )
        return self.dropout(self.layer_norm(x), training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            hidden_dim=self.hidden_dim,
            max_sequence_length=self.max_sequence_length,
            num_segments=self.num_segments,
            dropout=self.dropout_rate,
            layer_norm_epsilon=self.layer_norm_epsilon,
        )
        return config
