"""The small base class every pretraining task implements."""

from typing import ClassVar

import keras
import tensorflow as tf

from bert_tf.plugin_settings import constructor_arguments
from bert_tf.pretraining_data import SINGLE_SEGMENT, ExampleLayout
from bert_tf.tokenization import SpecialTokenIds

#: Constructor arguments the core sets; a task's other arguments are its own settings.
CORE_ARGUMENTS = (
    "vocabulary_size",
    "max_seq_length",
    "loss_weight",
    "special_ids",
    "continuation_ids",
)


class PretrainingTask:
    """One pretraining objective: its batch preprocessing, its head, its loss and metrics.

    Tasks only add keys prefixed by their name to a batch, and read the backbone's outputs, so
    they compose: the pretraining loss is the weighted sum of the tasks' losses.

    A task that needs word boundaries (whole-word masking) also takes `continuation_ids`, the
    ids of the pieces that continue a word, which `build_tasks` passes to the tasks that take it.

    A subclass's own settings are its other constructor keyword arguments, each documented in
    its `Args:` and kept as an attribute of the same name: the command line offers each as a
    flag (`--mask_rate`), and the bundle records their values.

    Args:
        vocabulary_size: int. Token ids in the vocabulary.
        max_seq_length: int. Longest input sequence, special tokens included.
        loss_weight: float. Weight of this task's loss in the total.
        special_ids: SpecialTokenIds. Where the vocabulary has [PAD], [UNK], [CLS], [SEP] and
            [MASK] (`Tokenizer.special_ids`; the default is a learned vocabulary's layout).
    """

    name: ClassVar[str]
    #: The layout this task needs; a single-segment task also trains on pairs when another
    #: task asks for them (the pipeline builds one layout for all the tasks of a run).
    example_layout: ClassVar[ExampleLayout] = SINGLE_SEGMENT
    #: True for a task that masks or replaces the tokens the backbone reads. A run takes at
    #: most one: a second would take the first one's corruption for the text.
    corrupts_tokens: ClassVar[bool] = False
    #: The metrics `loss_and_metrics` returns, in the order the bundle's summary lists them.
    metric_names: ClassVar[tuple] = ("loss", "accuracy")

    def __init__(
        self,
        vocabulary_size: int,
        max_seq_length: int,
        loss_weight: float = 1.0,
        special_ids: SpecialTokenIds = SpecialTokenIds(),
    ):
        self.vocabulary_size = vocabulary_size
        self.max_seq_length = max_seq_length
        self.loss_weight = loss_weight
        self.special_ids = special_ids

    def describe(self) -> dict:
        """What the bundle records of this task: its name, loss weight and own settings."""
        own = sorted(set(constructor_arguments(type(self))) - set(CORE_ARGUMENTS))
        return {
            "name": self.name,
            "loss_weight": self.loss_weight,
            "settings": {name: getattr(self, name) for name in own},
        }

    def preprocess(self, batch: dict) -> dict:
        """Adds this task's inputs to a batch in the tf.data pipeline.

        Args:
            batch: dict. Ragged int32 `token_ids`, `segment_ids` [B, None]; in the sentence-pair
                layout (`example_layout`) also int32 `next_sentence_labels` [B] (1 when segment
                B is from another document). Single segments have `segment_ids` all 0 and no
                `next_sentence_labels`.

        Returns:
            dict: the batch with this task's keys added (and `token_ids` possibly changed).
        """
        return batch

    def build_head(self, backbone: keras.Model) -> keras.layers.Layer:
        """Returns this task's head, a layer called as `head(backbone_outputs, batch)`."""
        raise NotImplementedError

    def rewrite_backbone_inputs(self, head, inputs: dict, batch: dict, training=False):
        """Changes what the backbone reads, inside the model's call, before the backbone runs.

        A task whose input depends on a model of its own (ELECTRA's generator, which lives in
        the head so that its weights are saved and restored with it) rewrites the inputs here;
        the default leaves them alone. Tasks rewrite in `--tasks` order, each seeing the
        previous one's result.

        Args:
            head: keras.layers.Layer. This task's head (from `build_head`).
            inputs: dict. The backbone's inputs `token_ids`, `segment_ids`, `padding_mask`
                [B, S].
            batch: dict. The dense batch, as the heads will see it.
            training: bool.

        Returns:
            (inputs, batch): what the backbone reads, and the batch the heads are called with
            (a task may add keys prefixed by its name, e.g. labels it drew here).
        """
        return inputs, batch

    def loss_and_metrics(self, head_output, batch: dict) -> tuple[tf.Tensor, dict]:
        """Returns this task's scalar loss and a dict of scalar metrics (`metric_names`, which
        start with `loss` and `accuracy`)."""
        raise NotImplementedError
