"""What the command-line scripts share: flags defined from the run configs and the plugin
registries, the configs built back from the flags, and clean error exits.

Only scripts import this module; the `bert_tf` library defines no flags. A flag's name, default
and help come from the config field it fills (`bert_tf.run_config`), and a backbone's or task's
settings from its constructor (`bert_tf.plugin_settings`), so adding a setting there adds its
flag here.
"""

import dataclasses
import sys
import traceback
import types
import typing

from absl import app, flags, logging

import backbones
import pretrain_tasks
from bert_tf.errors import InputError, TrainingError
from bert_tf.run_config import flag_fields

FLAGS = flags.FLAGS


def define_config_flags(config_class, flag_values=FLAGS) -> None:
    """Defines one flag per field of a run config (`PretrainConfig`, `FinetuneConfig`).

    bool, int, float and str fields become flags of that type (a str with choices, an enum); a
    tuple becomes a comma-separated list; a dict becomes a list of `name=number` items.
    """
    hints = typing.get_type_hints(config_class)
    for field in flag_fields(config_class):
        kind = _base_type(hints[field.name])
        help_text = field.metadata["help"]
        choices = field.metadata.get("choices")
        choices = choices() if callable(choices) else choices
        default = field.default if field.default is not dataclasses.MISSING else None
        if kind is bool:
            flags.DEFINE_bool(field.name, default, help_text, flag_values=flag_values)
        elif kind is int:
            flags.DEFINE_integer(field.name, default, help_text, flag_values=flag_values)
        elif kind is float:
            flags.DEFINE_float(field.name, default, help_text, flag_values=flag_values)
        elif kind is str and choices:
            flags.DEFINE_enum(
                field.name, default, list(choices), help_text, flag_values=flag_values
            )
        elif kind is str:
            flags.DEFINE_string(field.name, default, help_text, flag_values=flag_values)
        elif kind is tuple:
            if choices:
                help_text += f" Known: {', '.join(choices)}."
            flags.DEFINE_list(field.name, list(default), help_text, flag_values=flag_values)
        elif kind is dict:
            flags.DEFINE_list(field.name, [], help_text, flag_values=flag_values)
        else:
            raise TypeError(f"{config_class.__name__}.{field.name}: no flag for type {kind}")


def define_backbone_flags(config_class, flag_values=FLAGS) -> None:
    """Defines an optional flag per size or architecture setting of the registered backbones
    (unset: the `--model_size` preset's value, or the stage's default for a setting in
    `config_class.RUN_SETTING_DEFAULTS`), and `--hidden_size` as `--hidden_dim`."""
    for setting in backbones.settings().values():
        if setting.name in config_class.RUN_SETTING_DEFAULTS:
            unset = f"Unset: {_shown(config_class.RUN_SETTING_DEFAULTS[setting.name])}."
        else:
            unset = "Unset: the --model_size preset's value."
        _define_plugin_flag(setting, unset, flag_values)
    if "hidden_dim" in flag_values:
        flags.DEFINE_alias("hidden_size", "hidden_dim", flag_values=flag_values)


def define_task_flags(flag_values=FLAGS) -> None:
    """Defines an optional flag per setting of the registered pretraining tasks (unset: the
    task's own default)."""
    for setting in pretrain_tasks.settings().values():
        _define_plugin_flag(setting, f"Unset: {_shown(setting.default)}.", flag_values)


def define_verbose_flag(flag_values=FLAGS) -> None:
    flags.DEFINE_bool("verbose", False, "Show full tracebacks for errors.", flag_values=flag_values)


def _define_plugin_flag(setting, unset, flag_values) -> None:
    if setting.name in flag_values:
        raise ValueError(
            f"--{setting.name} of {', '.join(setting.owners)} clashes with a flag already "
            "defined; rename the constructor argument"
        )
    default = setting.default
    help_text = f"{setting.describe()} {unset}"
    if isinstance(default, bool):
        define = flags.DEFINE_bool
    elif isinstance(default, int):
        define = flags.DEFINE_integer
    elif isinstance(default, float):
        define = flags.DEFINE_float
    elif isinstance(default, (list, tuple)):
        define = flags.DEFINE_list
    else:
        define = flags.DEFINE_string
    define(setting.name, None, help_text, flag_values=flag_values)


def _shown(default) -> str:
    return ",".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)


def plugin_values(settings: dict, flag_values=FLAGS) -> dict:
    """The given flags among `settings`, as typed values (list items take the type of the
    default's items).

    Raises:
        InputError: a list item that is not of the default's item type.
    """
    values = {}
    for name, setting in settings.items():
        value = flag_values[name].value
        if value is None:
            continue
        if isinstance(setting.default, (list, tuple)) and setting.default:
            item_type = type(setting.default[0])
            try:
                value = [item_type(item) for item in value]
            except ValueError:
                raise InputError(
                    f"--{name}={','.join(value)}: expected comma-separated "
                    f"{item_type.__name__} values"
                ) from None
        values[name] = value
    return values


def config_from_flags(config_class, flag_values=FLAGS):
    """Builds a run config from the flags its fields define, plus the plugin settings given.

    Raises:
        InputError: a `name=number` item that does not parse.
    """
    hints = typing.get_type_hints(config_class)
    values = {}
    for field in flag_fields(config_class):
        value = flag_values[field.name].value
        kind = _base_type(hints[field.name])
        if kind is tuple:
            value = tuple(value)
        elif kind is dict:
            value = parse_weights(value, f"--{field.name}")
        values[field.name] = value
    names = {f.name for f in dataclasses.fields(config_class)}
    if "backbone_overrides" in names:
        values["backbone_overrides"] = plugin_values(backbones.settings(), flag_values)
    if "task_settings" in names:
        values["task_settings"] = plugin_values(pretrain_tasks.settings(), flag_values)
    return config_class(**values)


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


def _base_type(annotation):
    """`int` for `int | None`; the origin for `tuple[...]`/`dict[...]`; else the type itself."""
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return _base_type(arguments[0])
    return typing.get_origin(annotation) or annotation


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
            if FLAGS.verbose:
                traceback.print_exc()
            logging.error("%s", e)
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2 if isinstance(e, InputError) else 1)

    app.run(guarded)
