"""The settings a plugin (a backbone, a pretraining task) takes, read from its constructor.

A plugin's constructor keyword arguments are its whole config (STYLE.md), and its docstring's
`Args:` section says what each one means. Reading both here lets the command line offer every
setting of every registered plugin without the core naming any: adding a backbone with a new
argument adds its flag.
"""

import dataclasses
import inspect
import re


@dataclasses.dataclass(frozen=True)
class PluginSetting:
    """One constructor argument shared by one or more registered plugins.

    Attributes:
        name: str. The argument's name (and the flag's).
        default: the first owner's default; its type is the flag's type.
        owners: tuple[str, ...]. Registry names of the plugins that take it.
        meanings: tuple[str, ...]. What it means to each owner, from their docstrings.
    """

    name: str
    default: object
    owners: tuple
    meanings: tuple

    def describe(self) -> str:
        """One line for a flag's help: what the setting means to its owners."""
        owners_by_meaning = {}
        for owner, meaning in zip(self.owners, self.meanings):
            owners_by_meaning.setdefault(meaning, []).append(owner)
        return " ".join(
            f"{', '.join(owners)}: {meaning}" for meaning, owners in owners_by_meaning.items()
        )


def constructor_arguments(cls) -> dict:
    """The keyword arguments of `cls.__init__` with their defaults (`inspect.Parameter.empty`
    when there is none), `self` and `**kwargs` left out."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {
        p.name: p.default
        for p in parameters
        if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }


def documented_arguments(cls) -> dict:
    """Each argument's meaning from the `Args:` section of `cls`'s docstring (`name: type.
    meaning`, continued on more deeply indented lines), without the type."""
    doc = inspect.getdoc(cls) or ""
    section = doc.split("Args:", 1)[1] if "Args:" in doc else ""
    entries, name = {}, None
    for line in section.splitlines():
        match = re.match(r"^ {4}(\w+): (.*)$", line)
        if match:
            name = match.group(1)
            entries[name] = match.group(2).strip()
        elif name and line.startswith(" " * 8):
            entries[name] += " " + line.strip()
        elif line.strip():
            name = None
            if not line.startswith(" "):
                break
    return {key: re.sub(r"^[^.]*?\.\s+", "", text, count=1) for key, text in entries.items()}


def plugin_settings(registry: dict, excluded=()) -> dict:
    """The union of the registered plugins' constructor settings that have defaults.

    Args:
        registry: dict[str, type]. Registry name to plugin class.
        excluded: iterable of str. Arguments the core sets itself (e.g. `vocabulary_size`).

    Returns:
        dict[str, PluginSetting], by name.
    """
    settings = {}
    for owner, cls in registry.items():
        documented = documented_arguments(cls)
        for name, default in constructor_arguments(cls).items():
            if name in excluded or default is inspect.Parameter.empty:
                continue
            meaning = documented.get(name, "(undocumented)")
            earlier = settings.get(name, PluginSetting(name, default, (), ()))
            settings[name] = dataclasses.replace(
                earlier, owners=earlier.owners + (owner,), meanings=earlier.meanings + (meaning,)
            )
    return settings
