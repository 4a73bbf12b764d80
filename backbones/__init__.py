"""Backbone registry: a name to a `keras.Model` class honouring the backbone contract.

Contract (see DESIGN.md): built from keyword arguments that are also its `get_config()`;
inputs `token_ids`, `segment_ids`, `padding_mask` int32 [B, S]; outputs `sequence_output`
[B, S, H] and `pooled_output` [B, H]; attribute `token_embedding` (a `keras.layers.Embedding`);
attributes `embeddings` and `blocks` (the input embeddings, called as `embeddings(token_ids,
segment_ids)`, and the stacked layers, lowest first, given to `Backbone`: what fine-tuning's
`--freeze` keeps fixed, and what ELECTRA's generator shares and mirrors in depth); class
attributes `PRESETS`, size presets by name, `DEFAULT_POOLING`, the fine-tuning head's pooling
unless `--pooling` says otherwise (`Backbone` gives "mean"), `DEFAULT_FINETUNE_LEARNING_RATE` and
`DEFAULT_PRETRAIN_TASKS` and `DEFAULT_PRETRAIN_LEARNING_RATE`, fine-tuning's rate and
pretraining's tasks and peak rate unless given, and `RUN_SETTINGS`, the arguments that shape no
weight (dropout), which a run may set over a bundle's value. Adding a backbone:
one file, one line below.
"""

import keras

from backbones.textcnn import TextCNNBackbone
from backbones.transformer import TransformerBackbone
from bert_tf.errors import InputError
from bert_tf.plugin_settings import constructor_arguments, plugin_settings

BACKBONES = {
    "transformer": TransformerBackbone,
    "textcnn": TextCNNBackbone,
}
MODEL_SIZES = ("tiny", "mini", "small", "base")
#: Constructor arguments the core sets from the tokenizer and `--max_seq_length`.
CORE_ARGUMENTS = ("vocabulary_size", "max_sequence_length")


def get(name: str) -> type:
    """Returns the backbone class registered as `name`.

    Raises:
        InputError: if no backbone has that name (the message lists the known ones).
    """
    if name not in BACKBONES:
        raise InputError(f"unknown backbone {name!r}; expected one of {sorted(BACKBONES)}")
    return BACKBONES[name]


def backbone_config(name: str, vocabulary_size: int, model_size: str, **overrides) -> dict:
    """The constructor kwargs of backbone `name` at `model_size`, with overrides applied.

    Args:
        name: str. A registered backbone.
        vocabulary_size: int. Token ids the embedding must hold.
        model_size: str. One of `MODEL_SIZES`.
        **overrides: size settings (e.g. `hidden_dim=64`); None values are ignored.

    Raises:
        InputError: unknown name or size, or an override the backbone does not take.
    """
    cls = get(name)
    if model_size not in MODEL_SIZES:
        raise InputError(f"unknown model size {model_size!r}; expected one of {MODEL_SIZES}")
    config = dict(cls.PRESETS[model_size], vocabulary_size=vocabulary_size)
    accepted = _accepted_settings(cls) - {"vocabulary_size"}
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in accepted:
            raise InputError(
                f"backbone {name!r} has no setting {key!r}; it takes {sorted(accepted)}"
            )
        config[key] = value
    return config


def build(name: str, config: dict) -> keras.Model:
    """Builds backbone `name` from its config dict (as saved in a bundle).

    Raises:
        InputError: unknown name, or a config key the backbone does not take (Keras would
            otherwise swallow it and build a model of another size).
    """
    cls = get(name)
    unknown = set(config) - _accepted_settings(cls)
    if unknown:
        raise InputError(f"backbone {name!r} does not take {sorted(unknown)} (config {config})")
    try:
        return cls(**config)
    except TypeError as e:
        raise InputError(f"backbone {name!r} cannot be built from config {config}: {e}") from None


def settings() -> dict:
    """Every registered backbone's size and architecture settings (constructor arguments the
    core does not set), as `PluginSetting`s by name: the command line offers each as a flag."""
    return plugin_settings(BACKBONES, excluded=CORE_ARGUMENTS)


def _accepted_settings(cls) -> set:
    """The constructor's keyword arguments: the backbone's whole config."""
    return set(constructor_arguments(cls))
