"""The one table of tiny backbone sizes that every test uses (the presets are far larger).

Each backbone takes the settings of the table its constructor accepts and keeps its `tiny`
preset's value for the rest, so a newly registered backbone is tested at a small size without
an entry of its own.
"""

import backbones
from bert_tf.plugin_settings import constructor_arguments

TINY_SETTINGS = dict(
    hidden_dim=16,
    num_layers=1,
    num_heads=2,
    intermediate_dim=32,
    filters=8,
    kernel_sizes=[3, 5],
)


def tiny_overrides(backbone_name: str, **changes) -> dict:
    """The table's settings that backbone `backbone_name` takes, with `changes` applied."""
    accepted = constructor_arguments(backbones.get(backbone_name))
    settings = {key: value for key, value in TINY_SETTINGS.items() if key in accepted}
    settings.update(changes)
    return settings


def tiny_flags(backbone_name: str) -> list[str]:
    """The same settings as command-line flags (`--hidden_dim=16`, `--kernel_sizes=3,5`)."""
    return [
        f"--{key}={','.join(map(str, value)) if isinstance(value, list) else value}"
        for key, value in tiny_overrides(backbone_name).items()
    ]
