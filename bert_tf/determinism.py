"""Settings that must be made before TensorFlow is imported.

oneDNN's CPU kernels are fast but not bitwise reproducible from run to run (measured here: the
same seed gave losses differing in the 7th digit after a few steps); TensorFlow reads
`TF_ENABLE_ONEDNN_OPTS` once, at import. So the scripts call this first, before anything
imports TensorFlow. This module imports nothing heavy on purpose.
"""

import os

DETERMINISTIC_FLAGS = ("--deterministic", "--deterministic=true", "--deterministic=True")


def configure_before_tensorflow(argv: list[str]) -> None:
    """Turns oneDNN off when the command line asks for `--deterministic`."""
    if any(arg in DETERMINISTIC_FLAGS for arg in argv):
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
