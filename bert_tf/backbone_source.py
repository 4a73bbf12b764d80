"""Where a run's tokenizer and backbone come from: a bundle it starts from, or its flags.

With a bundle the bundle decides the vocabulary and the architecture. A flag that says
otherwise is an error naming the flag and the bundle's value: silently fine-tuning the bundle's
Transformer when the user asked for a TextCNN would mislead every comparison made with it.
"""

import dataclasses
import os

from absl import logging

import backbones
from backbones.base import model_inputs_example
from bert_tf import bundle, weights_file
from bert_tf.errors import InputError
from bert_tf.tokenization import Tokenizer


@dataclasses.dataclass(frozen=True)
class BackboneSource:
    """What a backbone is built from.

    Attributes:
        tokenizer: Tokenizer.
        name: str. The backbone's registry name.
        config: dict. Its constructor kwargs.
        bundle_dir: str. The bundle it comes from; empty for a new backbone.
    """

    tokenizer: Tokenizer
    name: str
    config: dict
    bundle_dir: str = ""


def from_bundle(run_config, directory: str) -> BackboneSource:
    """The bundle's tokenizer and backbone config, after checking the flags against them.

    Args:
        run_config: RunConfig. Its architecture settings must be unset or match the bundle.
        directory: str. The bundle.

    Raises:
        InputError: an unusable bundle, or flags that contradict it.
    """
    saved = bundle.read_bundle_config(directory)
    check_flags_against_bundle(run_config, saved, directory)
    tokenizer = bundle.load_tokenizer(directory, saved)
    name, config = saved["backbone"]["name"], dict(saved["backbone"]["config"])
    for key, value in _run_settings(run_config, name).items():
        if value != config.get(key):
            logging.info("--%s=%s over the bundle's %s", key, value, config.get(key))
        config[key] = value
    source = BackboneSource(tokenizer, name, config, directory)
    check_sequence_length(run_config.max_seq_length, source.config)
    return source


def new_backbone(run_config, tokenizer: Tokenizer) -> BackboneSource:
    """A backbone of the flags' name, size and overrides for `tokenizer`'s vocabulary.

    Raises:
        InputError: an unknown backbone or size, or an override the backbone does not take.
    """
    name = run_config.chosen("backbone")
    config = backbones.backbone_config(
        name,
        tokenizer.vocabulary_size,
        run_config.chosen("model_size"),
        max_sequence_length=run_config.max_seq_length,
        **{**run_config.backbone_overrides, **_run_settings(run_config, name)},
    )
    return BackboneSource(tokenizer, name, config)


def check_new_backbone_settings(run_config) -> None:
    """Checks the flags' backbone, size and overrides before any slow work starts.

    Raises:
        InputError: see `new_backbone`.
    """
    backbones.backbone_config(
        run_config.chosen("backbone"),
        1,
        run_config.chosen("model_size"),
        **run_config.backbone_overrides,
    )


def check_sequence_length(max_seq_length: int, backbone_config: dict) -> None:
    """Raises InputError when the backbone has fewer learned positions than the sequences."""
    positions = backbone_config.get("max_sequence_length", max_seq_length)
    if max_seq_length > positions:
        raise InputError(
            f"--max_seq_length={max_seq_length} is longer than the {positions} positions "
            "the backbone has; lower it"
        )


def check_flags_against_bundle(run_config, saved: dict, directory: str) -> None:
    """Raises InputError naming every given flag that contradicts the bundle's config.

    Args:
        run_config: RunConfig.
        saved: dict. The bundle's config.json.
        directory: str. The bundle, for the message.
    """
    name, architecture = saved["backbone"]["name"], saved["backbone"]["config"]
    tokenizer = saved["tokenizer"]
    conflicts = []
    if run_config.backbone is not None and run_config.backbone != name:
        conflicts.append(f"--backbone={run_config.backbone} (the bundle's backbone is {name})")
    if run_config.model_size is not None:
        preset = backbones.get(name).PRESETS[run_config.model_size]
        differing = sorted(k for k, v in preset.items() if architecture.get(k) != v)
        if differing:
            conflicts.append(
                f"--model_size={run_config.model_size} (the bundle's {name} has "
                + ", ".join(f"{k}={architecture.get(k)}" for k in differing)
                + "; the preset has "
                + ", ".join(f"{k}={preset[k]}" for k in differing)
                + ")"
            )
    for key, value in run_config.backbone_overrides.items():
        if key not in _run_settings(run_config, name) and architecture.get(key) != value:
            has = f"{key}={architecture[key]}" if key in architecture else f"no {key}"
            conflicts.append(f"--{key}={value} (the bundle's {name} has {has})")
    for flag, given, bundled in (
        ("tokenizer", run_config.tokenizer, tokenizer["kind"]),
        ("vocab_size", run_config.vocab_size, tokenizer["vocabulary_size"]),
        ("lower_case", getattr(run_config, "lower_case", None), tokenizer["lower_case"]),
        ("cjk_split", run_config.cjk_split, tokenizer.get("cjk_split", "character")),
    ):
        if given is not None and given != bundled:
            conflicts.append(f"--{flag}={given} (the bundle's is {bundled})")
    if getattr(run_config, "vocab_file", ""):
        conflicts.append(f"--vocab_file={run_config.vocab_file} (the bundle has its vocabulary)")
    if conflicts:
        raise InputError(
            f"--init_checkpoint={directory}: these flags contradict the bundle: "
            + "; ".join(conflicts)
            + ". Leave them out to use the bundle's, or give no --init_checkpoint to build a "
            "new model"
        )


def _run_settings(run_config, name) -> dict:
    """The backbone settings that shape no weight (`RUN_SETTINGS`) this run sets: the given
    flags, else the stage's `RUN_SETTING_DEFAULTS` (pretraining without dropout, fine-tuning
    with it). They apply over a bundle's values and the preset's instead of contradicting them."""
    cls = backbones.get(name)
    settings = {
        key: value
        for key, value in run_config.RUN_SETTING_DEFAULTS.items()
        if key in cls.RUN_SETTINGS
    }
    settings.update(
        (key, value)
        for key, value in run_config.backbone_overrides.items()
        if key in cls.RUN_SETTINGS and value is not None
    )
    return settings


def build_backbone(source: BackboneSource, strategy):
    """Builds the backbone in the strategy's scope, its variables created."""
    with strategy.scope():
        backbone = backbones.build(source.name, source.config)
        backbone(model_inputs_example())
    return backbone


def restore_backbone(backbone, bundle_dir: str) -> dict:
    """Loads a bundle's backbone weights strictly; returns what was restored.

    Returns:
        dict: `weights` (count), `parameters` and `from` (the bundle).

    Raises:
        InputError: a weight missing from the file, extra in it, or of another shape.
    """
    path = os.path.join(bundle_dir, bundle.BACKBONE_WEIGHTS_FILE)
    count, parameters = weights_file.load_weights(path, backbone.weights)
    logging.info(
        "restored %d weights (%.1fM parameters) from %s", count, parameters / 1e6, bundle_dir
    )
    return {"weights": count, "parameters": parameters, "from": bundle_dir}
