"""What every backbone shares: the contract's inputs, and constructor kwargs as the config."""

import keras
import numpy as np

#: The keys of a batch that a backbone reads; models pass exactly these to it.
BACKBONE_INPUTS = ("token_ids", "segment_ids", "padding_mask")


def backbone_inputs() -> dict:
    """The contract's inputs: `token_ids`, `segment_ids`, `padding_mask`, int32 [B, S]."""
    return {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in BACKBONE_INPUTS}


def model_inputs_example(batch_size: int = 1, length: int = 4) -> dict:
    """A dummy batch of the backbone inputs [B, S] that builds a model's variables."""
    zeros = np.zeros((batch_size, length), np.int32)
    return {"token_ids": zeros, "segment_ids": zeros, "padding_mask": np.ones_like(zeros)}


class Backbone(keras.Model):
    """A functional model from `backbone_inputs()` to `sequence_output` and `pooled_output`.

    Args:
        inputs: dict. From `backbone_inputs()`.
        outputs: dict. `sequence_output` [B, S, H] and `pooled_output` [B, H].
        token_embedding: keras.layers.Embedding. Heads tie their output weights to it.
        config: dict. The subclass's constructor kwargs; `get_config()` returns exactly them.
        embeddings: keras.layers.Layer or None. The input embeddings (token, segment,
            position), called as `embeddings(token_ids, segment_ids)` -> [B, S, E]
            (`replaced_token_detection`'s generator shares them).
        blocks: list[keras.layers.Layer]. The stacked layers on top of them, lowest first.
            With `embeddings`, what fine-tuning's `--freeze` keeps fixed, bottom up; whatever
            else the backbone holds (a pooler) sits above them. A backbone that declares
            neither still fine-tunes, but not with `--freeze=embeddings` or `bottom:N`.
    """

    #: The fine-tuning head's `--pooling` when none is given, picked by measurement: a masked
    #: mean of the token outputs learned where a head on the pooled output collapsed to the label
    #: priors (DESIGN.md, "Measured pitfall"). A backbone may pick another.
    DEFAULT_POOLING = "mean"
    #: Fine-tuning's `--learning_rate` when none is given: the rate the pretrain-vs-scratch
    #: benchmark chose on valid for this backbone's pretrained arm (docs/benchmarks:
    #: pretrain_vs_scratch*.md). A backbone may pick another.
    DEFAULT_FINETUNE_LEARNING_RATE = 1e-3
    #: Pretraining's `--tasks` when none is given: masked LM alone, on single segments packed
    #: from a document's sentences, beat masked LM + next sentence per CPU-minute for the
    #: Transformer (docs/benchmarks/quality_per_minute_screen10.md). A backbone may pick others.
    DEFAULT_PRETRAIN_TASKS = ("masked_lm",)
    #: Pretraining's peak `--learning_rate` when none is given. A backbone may pick another.
    DEFAULT_PRETRAIN_LEARNING_RATE = 1e-3
    #: Constructor arguments that shape no weight, so a run may set them over a bundle's value:
    #: pretraining without dropout and fine-tuning with it, say.
    RUN_SETTINGS = ("dropout",)

    def __init__(
        self, inputs, outputs, token_embedding, config, embeddings=None, blocks=(), **kwargs
    ):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.token_embedding = token_embedding
        self.embeddings = embeddings
        self.blocks = list(blocks)
        self._backbone_config = dict(config)

    def get_config(self):
        return dict(self._backbone_config)

    @classmethod
    def from_config(cls, config):
        return cls(**config)
