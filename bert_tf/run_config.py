"""Run settings: the one place their names, defaults and help texts are written.

`PretrainConfig` and `FinetuneConfig` are frozen dataclasses built from `RunConfig`. Each field
that is a flag carries its help text (and, for a choice, its choices) as metadata, and the
scripts define their flags from these fields, so a flag's default is the field's default and
the two cannot drift. Settings of registered plugins (backbone sizes, task settings) are not
fields of their own: they arrive as the dicts `backbone_overrides` and `task_settings`.
"""

import dataclasses
from typing import ClassVar

from absl import logging

import backbones
from bert_tf.distribution import STRATEGIES
from bert_tf.errors import InputError
from bert_tf.tokenization import CJK_SPLITS, TOKENIZER_KINDS

#: Keras dtype policies a run may compute in. Weights stay float32 in both, so bundles and
#: checkpoints do not depend on it; mixed_bfloat16 runs the matmuls in bfloat16, which CPUs
#: with AVX512_BF16 or AMX (and TPUs) do about twice as fast as float32.
DTYPE_POLICIES = ("float32", "mixed_bfloat16")

#: What a run uses when neither a flag nor a bundle chooses.
UNSET_DEFAULTS = {
    "backbone": "transformer",
    "model_size": "tiny",
    "tokenizer": "wordpiece",
    "vocab_size": 8000,
    "lower_case": True,
    "cjk_split": "character",
}


def setting(default, help_text, choices=None):
    """A dataclass field that is also a flag.

    Args:
        default: the field's and the flag's default.
        help_text: str. The flag's help.
        choices: a tuple, or a callable returning one (read when the flag is defined, so a
            registry's later entries count), for an enum flag.
    """
    metadata = {"help": help_text, "choices": choices}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def plugin_dict(help_text):
    """A dict field filled from the flags of registered plugins' settings (not a flag itself)."""
    return dataclasses.field(default_factory=dict, metadata={"help": help_text, "plugins": True})


def _backbone_names():
    return tuple(sorted(backbones.BACKBONES))


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunConfig:
    """The settings both stages share.

    The architecture settings default to None, meaning "not given": a bundle's value is then
    used, and a given value that contradicts the bundle is an error rather than ignored.
    """

    init_checkpoint: str = setting("", "A bundle directory to start from; empty for none.")
    output_dir: str = setting("runs/run", "Where results, checkpoints and logs go.")
    backbone: str | None = setting(
        None,
        f"Backbone (default {UNSET_DEFAULTS['backbone']}); with --init_checkpoint, the bundle's.",
        _backbone_names,
    )
    model_size: str | None = setting(
        None,
        f"Size preset (default {UNSET_DEFAULTS['model_size']}): tiny 2x128, mini 4x256, "
        "small 4x512, base 12x768; with --init_checkpoint, the bundle's.",
        backbones.MODEL_SIZES,
    )
    backbone_overrides: dict = plugin_dict("Backbone settings that override the preset.")
    tokenizer: str | None = setting(
        None,
        f"Tokenizer learned when no bundle is given (default {UNSET_DEFAULTS['tokenizer']}): "
        "wordpiece subwords, or whitespace for pre-tokenized text.",
        TOKENIZER_KINDS,
    )
    cjk_split: str | None = setting(
        None,
        f"How a learned wordpiece vocabulary cuts Chinese and Japanese text into words (default "
        f"{UNSET_DEFAULTS['cjk_split']}): character, one word per ideograph as BERT does; "
        "script_run, one word per run of Han, of hiragana or of katakana, so the vocabulary can "
        "learn compounds. With --init_checkpoint, the bundle's.",
        tuple(CJK_SPLITS),
    )
    vocab_size: int | None = setting(
        None,
        f"Largest vocabulary learned, special tokens included (default "
        f"{UNSET_DEFAULTS['vocab_size']}); with --init_checkpoint, the bundle's.",
    )
    max_seq_length: int = setting(128, "Longest sequence, [CLS]/[SEP] included.")
    batch_size: int = setting(32, "Global batch size.")
    learning_rate: float = setting(1e-3, "Peak learning rate of AdamW.")
    weight_decay: float = setting(0.01, "AdamW weight decay.")
    seed: int = setting(0, "Seeds data order, masks, pairs, dropout and initialization.")
    deterministic: bool = setting(
        False, "TensorFlow op determinism: identical losses from a seed, somewhat slower."
    )
    dtype_policy: str = setting(
        "float32",
        "Compute precision: float32, or mixed_bfloat16 (bfloat16 matmuls, float32 weights, "
        "losses and normalization; faster on CPUs with AVX512_BF16 or AMX, slower on others).",
        DTYPE_POLICIES,
    )
    strategy: str = setting(
        "default",
        "tf.distribute strategy: one device, every local GPU (mirrored), the workers of "
        "TF_CONFIG (multi_worker_mirrored), or a TPU (--tpu).",
        STRATEGIES,
    )
    tpu: str = setting(
        "", "--strategy=tpu: the TPU's name, grpc://host:8470, or local; empty: the environment's."
    )
    static_shapes: bool = setting(
        False,
        "Pad every training batch to one of a few fixed shapes (full batches, lengths at the "
        "bucket edges), so XLA and TPUs compile a bounded set of programs; use with "
        "--strategy=tpu.",
    )
    jit_compile: bool = setting(
        False, "Compile the training step with XLA (a TPU always does); best with --static_shapes."
    )
    cluster_timeout: float = setting(
        300.0,
        "--strategy=multi_worker_mirrored: seconds to wait for every worker of TF_CONFIG before "
        "giving up.",
    )
    resume: bool = setting(
        True, "Continue the run in --output_dir if there is one; --noresume starts over."
    )

    #: This stage's values of the backbones' `RUN_SETTINGS` (the settings that shape no weight)
    #: when their flags are not given, over the preset's and the bundle's. Empty: the bundle's,
    #: else the preset's.
    RUN_SETTING_DEFAULTS: ClassVar[dict] = {}

    def validate(self) -> None:
        """Raises InputError for settings no run can use."""
        for name in ("batch_size", "vocab_size"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InputError(f"--{name}={value}: expected a positive number")
        for name in ("learning_rate", "cluster_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InputError(f"--{name}={value}: expected a positive number")
        if self.dtype_policy not in DTYPE_POLICIES:
            raise InputError(
                f"--dtype_policy={self.dtype_policy}: expected one of {', '.join(DTYPE_POLICIES)}"
            )
        if self.strategy == "tpu" and not self.static_shapes:
            logging.warning(
                "--strategy=tpu without --static_shapes: the TPU compiles a program for every "
                "batch shape it meets; --static_shapes bounds them"
            )

    def chosen(self, name: str):
        """The value of architecture setting `name` for a run without a bundle: the flag's
        if given, else the default in `UNSET_DEFAULTS`."""
        value = getattr(self, name)
        return UNSET_DEFAULTS[name] if value is None else value


def flag_fields(config_class) -> list:
    """The fields of a run config that are one flag each."""
    return [
        f
        for f in dataclasses.fields(config_class)
        if "help" in f.metadata and not f.metadata.get("plugins")
    ]
