"""Next-sentence prediction: is segment B the continuation of A, or from another document?"""

import keras
from keras import ops

from bert_tf.pretraining_data import ExampleLayout
from pretrain_tasks.base import PretrainingTask


@keras.saving.register_keras_serializable(package="bert_tf")
class NextSentenceHead(keras.layers.Layer):
    """A 2-way classifier on the pooled output. Call: outputs dict -> logits [B, 2]."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(
            2, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02), name="dense"
        )

    def call(self, backbone_outputs, batch):
        return self.dense(backbone_outputs["pooled_output"])


class NextSentence(PretrainingTask):
    """Half the pairs get a segment B from another document (label 1); the head tells which."""

    name = "next_sentence"
    example_layout = ExampleLayout.pairs(random_next_rate=0.5)

    def build_head(self, backbone):
        return NextSentenceHead(name=self.name)

    def loss_and_metrics(self, logits, batch):
        labels = batch["next_sentence_labels"]
        loss = ops.mean(
            keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        )
        predictions = ops.cast(ops.argmax(logits, axis=-1), "int32")
        accuracy = ops.mean(ops.cast(ops.equal(predictions, ops.cast(labels, "int32")), "float32"))
        return loss, {"loss": loss, "accuracy": accuracy}
