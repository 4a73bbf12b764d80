"""Seeds, determinism and the output directory's resumable state, shared by both stages."""

import contextlib
import dataclasses
import json
import os
import shutil

import keras
import tensorflow as tf
from absl import logging

from bert_tf import atomic_write
from bert_tf.errors import InputError

RUN_FILE = "run.json"


def set_seed(seed: int, deterministic: bool) -> None:
    """Seeds Python, NumPy and TensorFlow; with `deterministic`, also TF's op determinism
    (same losses on CPU from the same seed, at some cost in speed)."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
        # Independent ops running concurrently can still sum gradients in a different order.
        tf.config.threading.set_inter_op_parallelism_threads(1)


@contextlib.contextmanager
def dtype_policy(name: str):
    """Runs the body under Keras's global dtype policy `name` (e.g. mixed_bfloat16), then puts
    the previous one back, so a run in a process leaves the next one's precision alone."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def run_settings(config, resumable_changes) -> dict:
    """The settings that identify a run: all of `config` but those a resumed run may change."""
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in resumable_changes}
    return json.loads(json.dumps(settings))  # as run.json will give them back (tuples as lists)


def prepare_checkpoint_dir(checkpoint_dir: str, settings: dict, resume: bool) -> bool:
    """Makes `checkpoint_dir` ready, and says whether it holds a run to resume.

    A run records its settings in `run.json`. With `resume`, an existing run is continued if
    its settings equal these; otherwise it is an error (a different run would be mixed in).
    Without `resume`, an existing run is removed.

    Returns:
        bool: True when an earlier run with these settings is there to resume.

    Raises:
        InputError: `resume` and the directory holds a run with other settings.
    """
    path = os.path.join(checkpoint_dir, RUN_FILE)
    if os.path.isfile(path) and not resume:
        logging.info("--noresume: removing the earlier run in %s", checkpoint_dir)
        shutil.rmtree(checkpoint_dir)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
        if previous != settings:
            changed = sorted(
                k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k)
            )
            raise InputError(
                f"{checkpoint_dir} holds a run with other settings ({', '.join(changed)} differ); "
                "pass --noresume to start over there, or choose another --output_dir"
            )
        return True
    os.makedirs(checkpoint_dir, exist_ok=True)
    return False


def record_run(checkpoint_dir: str, settings: dict) -> None:
    """Writes `run.json` once the run's state (e.g. its vocabulary) is in place."""
    atomic_write.write_json(os.path.join(checkpoint_dir, RUN_FILE), settings)
