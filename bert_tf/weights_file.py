"""Weights files written and read through h5py, one dataset per variable path, restored strictly.

Keras's own loader matches weights by layer order and can skip what does not match; here every
variable is looked up by its path, and anything missing, extra or of another shape is an error
that names the weight.
"""

import os

import h5py
import numpy as np

from bert_tf import atomic_write
from bert_tf.errors import InputError

WEIGHTS_GROUP = "weights"


def save_weights(path: str, variables) -> None:
    """Writes variables to an .h5 file atomically (a temporary file, then a rename).

    Args:
        path: str. The .h5 file to write.
        variables: list of keras.Variable. Their `path`s must be unique.

    Raises:
        ValueError: two variables share a path.
    """
    paths = [v.path for v in variables]
    if len(set(paths)) != len(paths):
        raise ValueError(f"variable paths are not unique: {sorted(paths)}")
    with atomic_write.atomic_path(path) as temporary, h5py.File(temporary, "w") as f:
        group = f.create_group(WEIGHTS_GROUP)
        for variable in variables:
            group.create_dataset(variable.path, data=np.asarray(variable.numpy()))


def read_weights(path: str) -> dict:
    """Reads an .h5 weights file into {variable path: np.ndarray}.

    Raises:
        InputError: missing file or not a weights file of this format.
    """
    if not os.path.isfile(path):
        raise InputError(f"{path}: weights file not found")
    arrays = {}
    try:
        with h5py.File(path, "r") as f:
            if WEIGHTS_GROUP not in f:
                raise InputError(f"{path}: no {WEIGHTS_GROUP!r} group; not a bert_tf weights file")
            f[WEIGHTS_GROUP].visititems(
                lambda name, item: (
                    arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
                )
            )
    except OSError as e:
        raise InputError(f"{path}: cannot be read as HDF5 ({e})") from None
    return arrays


def load_weights(path: str, variables, under: tuple = ()) -> tuple[int, int]:
    """Assigns every variable its value from the file, strictly.

    Args:
        path: str. An .h5 file written by `save_weights`.
        variables: list of keras.Variable. All must be in the file, with the same shapes, and
            the file must hold nothing else (within `under`).
        under: tuple of str. If given, only the file's weights whose paths start with one of
            these prefixes are considered (e.g. the heads of the tasks a run shares with the
            file); the rest of the file is left alone.

    Returns:
        (number of weights restored, number of parameters restored).

    Raises:
        InputError: naming the weights that are missing, unexpected or of another shape.
    """
    arrays = read_weights(path)
    if under:
        arrays = {name: a for name, a in arrays.items() if name.startswith(tuple(under))}
    wanted = {v.path: v for v in variables}
    missing = sorted(set(wanted) - set(arrays))
    unexpected = sorted(set(arrays) - set(wanted))
    mismatched = [
        f"{name} (file {arrays[name].shape}, model {tuple(wanted[name].shape)})"
        for name in sorted(set(wanted) & set(arrays))
        if arrays[name].shape != tuple(wanted[name].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing from the file: {', '.join(missing)}")
    if unexpected:
        problems.append(f"in the file but not in the model: {', '.join(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatch: {', '.join(mismatched)}")
    if problems:
        raise InputError(f"{path}: the weights do not fit the model; " + "; ".join(problems))
    for name, variable in wanted.items():
        variable.assign(arrays[name])
    return len(wanted), int(sum(arrays[name].size for name in wanted))
