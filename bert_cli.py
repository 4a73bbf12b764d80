"""What both scripts share: override flags, argument checks, and clean error exits."""

import dataclasses
import sys
import traceback

from absl import app, flags, logging

from bert_tf.errors import InputError, TrainingError

BACKBONE_OVERRIDES = {
    "hidden_dim": "Width H of the backbone (overrides the preset).",
    "num_layers": "Number of layers (overrides the preset).",
    "num_heads": "Transformer: attention heads (overrides the preset).",
    "intermediate_dim": "Transformer: feed-forward width (overrides the preset).",
    "filters": "TextCNN: filters per kernel width (overrides the preset).",
}


def define_backbone_override_flags() -> None:
    """Defines one optional integer flag per backbone size setting, plus `--hidden_size`."""
    for name, help_text in BACKBONE_OVERRIDES.items():
        flags.DEFINE_integer(name, None, help_text)
    flags.DEFINE_float("dropout", None, "Dropout rate of the backbone (overrides the preset).")
    flags.DEFINE_alias("hidden_size", "hidden_dim")


def define_verbose_flag() -> None:
    flags.DEFINE_bool("verbose", False, "Show full tracebacks for errors.")


def backbone_overrides(flag_values) -> dict:
    """The override flags that were given, as backbone config entries."""
    names = list(BACKBONE_OVERRIDES) + ["dropout"]
    return {name: flag_values[name].value for name in names if flag_values[name].value is not None}


def config_from_flags(config_class, flag_values, **special):
    """Builds a run config whose field names are flag names.

    Args:
        config_class: a dataclass type (`PretrainConfig`, `FinetuneConfig`).
        flag_values: absl FlagValues.
        **special: values for the fields that are not one flag each (parsed elsewhere).
    """
    return config_class(
        **{
            field.name: (
                special[field.name] if field.name in special else flag_values[field.name].value
            )
            for field in dataclasses.fields(config_class)
        }
    )


def parse_weights(items: list[str], flag_name: str) -> dict:
    """Parses `name=weight` items into a dict.

    Raises:
        InputError: an item is not `name=number`.
    """
    weights = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"{flag_name}: {item!r} is not name=number") from None
    return weights


def reject_extra_arguments(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")


def run(main) -> None:
    """Runs an absl `main`, turning user errors into a message and exit status 2 (1 for a
    training failure), with the traceback only under `--verbose`."""

    def guarded(argv):
        try:
            main(argv)
        except (InputError, TrainingError) as e:
            if flags.FLAGS.verbose:
                traceback.print_exc()
            logging.error("%s", e)
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2 if isinstance(e, InputError) else 1)

    app.run(guarded)
