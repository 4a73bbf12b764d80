"""What a pretrain-vs-scratch benchmark starts from beside its budget: bundles pretrained
elsewhere (`--pretrained_bundle=BACKBONE=PATH`), a vocabulary (`--vocab_file`), and the work
directory of a variant, so that runs made from other inputs never mix with the defaults' runs.
"""

import hashlib
import json
import os

#: The config file of a bundle, with its backbone, training summary and file checksums.
BUNDLE_CONFIG = "config.json"
VARIANT_FILE = "variant.json"


def read_bundle_config(path: str) -> dict:
    """A bundle's `config.json`.

    Raises:
        ValueError: no bundle there (the message names the path).
    """
    config_path = os.path.join(path, BUNDLE_CONFIG)
    if not os.path.isfile(config_path):
        raise ValueError(f"{path}: no {BUNDLE_CONFIG}; expected a bundle from train_bert_lm.py")
    with open(config_path, encoding="utf-8") as f:
        return json.load(f)


def parse_pretrained_bundles(specs: list[str], backbone_names: list[str]) -> dict[str, str]:
    """`BACKBONE=PATH` specs to {backbone: absolute bundle path}, checked.

    Raises:
        ValueError: a spec without `=`, a backbone not benchmarked or given twice, a path that
            is no bundle, or a bundle of another backbone.
    """
    bundles = {}
    for spec in specs:
        backbone, separator, path = spec.partition("=")
        if not separator or not path:
            raise ValueError(f"--pretrained_bundle={spec}: expected BACKBONE=PATH")
        if backbone not in backbone_names:
            raise ValueError(
                f"--pretrained_bundle={spec}: {backbone!r} is not one of --backbones "
                f"{backbone_names}"
            )
        if backbone in bundles:
            raise ValueError(f"--pretrained_bundle: {backbone} given twice")
        built = read_bundle_config(path)["backbone"]["name"]
        if built != backbone:
            raise ValueError(f"--pretrained_bundle={spec}: the bundle holds a {built} backbone")
        bundles[backbone] = os.path.abspath(path)
    return bundles


def bundle_steps(path: str) -> int:
    """The pretraining steps a bundle's training summary records (0 if none)."""
    return int(read_bundle_config(path).get("training_summary", {}).get("steps", 0))


def bundle_vocabulary(bundles: dict[str, str]) -> str:
    """The vocabulary of the first given bundle (by backbone name), for the bundles pretrained
    here, so that every backbone tokenizes alike; empty when none is given."""
    return os.path.join(bundles[min(bundles)], "vocab.txt") if bundles else ""


def variant_work_dir(base: str, settings: dict) -> str:
    """`base` when `settings` has no value set; else `base_<8 hex digits>`, a directory of its
    own named by the settings (and, for files, their contents), which it records in
    `variant.json`.

    Args:
        base: str. The default work directory.
        settings: dict name -> value; values that are paths of files or bundles are
            fingerprinted by their contents, so a changed file gets a new directory.
    """
    chosen = {name: value for name, value in settings.items() if value}
    if not chosen:
        return base
    described = {name: _describe(value) for name, value in sorted(chosen.items())}
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode("utf-8")).hexdigest()
    work_dir = f"{base}_{digest[:8]}"
    os.makedirs(work_dir, exist_ok=True)
    with open(os.path.join(work_dir, VARIANT_FILE), "w", encoding="utf-8") as f:
        json.dump(described, f, indent=2)
    return work_dir


def _describe(value):
    """A setting as recorded: a file by its path and SHA-256, a bundle by its path and its
    weights' checksum, a dict item by item, anything else as it is."""
    if isinstance(value, dict):
        return {key: _describe(item) for key, item in sorted(value.items())}
    if isinstance(value, str) and os.path.isfile(os.path.join(value, BUNDLE_CONFIG)):
        files = read_bundle_config(value).get("files", {})
        return {"bundle": value, "files": files}
    if isinstance(value, str) and os.path.isfile(value):
        with open(value, "rb") as f:
            return {"file": os.path.abspath(value), "sha256": hashlib.sha256(f.read()).hexdigest()}
    return list(value) if isinstance(value, tuple) else value


#: Where a pretraining run records the settings it ran with (bert_tf.trainer's checkpoint
#: directory, bert_tf.run_state's run file).
PRETRAINING_RUN_FILE = os.path.join("checkpoints", "run.json")
#: Flags naming files: a reused bundle may have been made through another path to them.
PATH_FLAGS = ("corpus", "output_dir", "vocab_file")


def differing_pretraining_flags(bundle: str, args: list[str]) -> list[str]:
    """How the pretraining run recorded in `bundle` differs from `args` (`--name=value` or
    boolean `--name`/`--noname` flags of `train_bert_lm.py`; a later one wins, as on a command
    line), one line per flag the run recorded; paths are not compared. Empty when the bundle
    records no run.

    A benchmark reuses a finished bundle by its name, which says the backbone and the steps but
    not the rest of the recipe: this is what tells a bundle of an earlier recipe apart.
    """
    run_file = os.path.join(bundle, PRETRAINING_RUN_FILE)
    if not os.path.isfile(run_file):
        return []
    with open(run_file, encoding="utf-8") as f:
        recorded = json.load(f)
    given = given_flags(args, booleans=recorded)
    return [
        f"--{name}={value}, but the bundle was pretrained with {recorded[name]!r}"
        for name, value in given.items()
        if name in recorded and name not in PATH_FLAGS and not _same_value(recorded[name], value)
    ]


def given_flags(args: list[str], booleans) -> dict[str, str]:
    """`{name: text}` of `--name=value` flags and of boolean `--name`/`--noname` ones (`true` /
    `false`) among `args`; a later one wins, as on a command line. `--noX` is read as X false
    only where X is in `booleans`, so a flag whose own name starts with "no" is kept whole."""
    given = {}
    for arg in args:
        name, separator, value = arg.removeprefix("--").partition("=")
        if not separator and name.startswith("no") and name[2:] in booleans:
            name, value = name[2:], "false"
        given[name] = value if separator else value or "true"
    return given


#: The `train_bert_lm.py` flags that shape a learned vocabulary, and how each reads its text.
VOCABULARY_FLAGS = {
    "tokenizer": str,
    "cjk_split": str,
    "vocab_size": int,
    "lower_case": lambda text: text.lower() in ("true", "1"),
    "vocab_sample_lines": int,
    "min_count": int,
}


def vocabulary_settings(pretrain_flags) -> dict:
    """The `PretrainConfig` settings among `pretrain_flags` that shape a learned vocabulary
    (e.g. `--cjk_split=script_run`), so a benchmark's shared vocabulary is learned as the
    pretraining run would learn its own."""
    given = given_flags(pretrain_flags, booleans=VOCABULARY_FLAGS)
    return {name: VOCABULARY_FLAGS[name](given[name]) for name in VOCABULARY_FLAGS if name in given}


def _same_value(recorded, value: str) -> bool:
    """Whether a flag's text `value` means the `recorded` JSON value."""
    if isinstance(recorded, bool):
        return value.lower() in ("true", "1") if recorded else value.lower() in ("false", "0")
    if isinstance(recorded, (int, float)):
        try:
            return float(value) == float(recorded)
        except ValueError:
            return False
    if isinstance(recorded, list):
        return value.split(",") == [str(item) for item in recorded]
    return value == ("" if recorded is None else str(recorded))
