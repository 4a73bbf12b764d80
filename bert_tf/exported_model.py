"""Reading what `export` wrote: the version directories under a base, and a loaded SavedModel
called on raw strings.

Only TensorFlow and tensorflow-text are needed to run an export; this module is the project's
convenience around them, shared by `bert-tf-predict` and `bert-tf-serve`.
"""

import os

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenization ops the SavedModel uses)

from bert_tf.errors import InputError

SAVED_MODEL_FILE = "saved_model.pb"
SIGNATURE_NAME = "serving_default"
INPUT_NAME = "text"


def is_export(directory: str) -> bool:
    """Whether `directory` is one exported version or a base holding numbered versions."""
    return os.path.isfile(os.path.join(directory, SAVED_MODEL_FILE)) or bool(versions(directory))


def versions(base: str) -> dict[int, str]:
    """The complete versions under `base`: numbered subdirectories holding a SavedModel, by
    version number (TF Serving's layout; `export`'s temporary directories are not numbers)."""
    if not os.path.isdir(base):
        return {}
    found = {}
    for name in os.listdir(base):
        path = os.path.join(base, name)
        if name.isdigit() and os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
            found[int(name)] = path
    return found


def newest_version(base: str) -> tuple[int, str]:
    """The highest version under `base` and its directory.

    Raises:
        InputError: `base` does not exist or holds no version.
    """
    found = versions(base)
    if not found:
        raise InputError(
            f"{base}: no exported version (expected numbered directories such as {base}/1, "
            "each written by bert-tf-export)"
        )
    version = max(found)
    return version, found[version]


class ExportedModel:
    """An exported classifier, loaded: raw texts in, its serving outputs as NumPy arrays out.

    Args:
        directory: str. One exported version (`<base>/<version>`).
        version: int. Its version number, for status reports.

    Raises:
        InputError: the directory holds no SavedModel with the expected signature.
    """

    def __init__(self, directory: str, version: int):
        try:
            loaded = tf.saved_model.load(directory)
        except (OSError, ValueError, tf.errors.OpError) as e:
            raise InputError(f"{directory}: not a readable SavedModel ({e})") from None
        if SIGNATURE_NAME not in loaded.signatures:
            raise InputError(f"{directory}: no {SIGNATURE_NAME!r} signature; not an export")
        self._loaded = loaded  # the signature holds no reference to its variables' owner
        self._serve = loaded.signatures[SIGNATURE_NAME]
        self.directory = directory
        self.version = version
        self.labels = [name.decode("utf-8") for name in loaded.label_names().numpy()]
        # Exports made before sentence pairs existed have no `text_pairs`: single texts.
        self.text_pairs = (
            bool(loaded.text_pairs().numpy()) if hasattr(loaded, "text_pairs") else False
        )
        self.output_names = sorted(self._serve.structured_outputs)

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The serving outputs for `texts` [N]: `probabilities`, `labels_mask` [N, L],
        `top_labels` (bytes), `top_scores` [N, K]."""
        outputs = self._serve(**{INPUT_NAME: tf.constant(texts, tf.string)})
        return {name: value.numpy() for name, value in outputs.items()}


def load_exported(directory: str) -> ExportedModel:
    """Loads one exported version, or the newest version under a base directory.

    Raises:
        InputError: no SavedModel there.
    """
    if os.path.isfile(os.path.join(directory, SAVED_MODEL_FILE)):
        name = os.path.basename(os.path.normpath(directory))
        return ExportedModel(directory, int(name) if name.isdigit() else 0)
    version, path = newest_version(directory)
    return ExportedModel(path, version)
