"""Every file the project writes goes through here: to a temporary name beside it, then a rename.

A rename within one directory is atomic, so a reader (or a run resumed after `kill -9`) sees the
old file or the new one, never half of one. Checkpoints are the exception: TensorFlow's
`CheckpointManager` writes its files first and its index last, to the same effect.
"""

import contextlib
import json
import os
import shutil


@contextlib.contextmanager
def atomic_path(path: str):
    """Yields a temporary path to write; on success it is renamed over `path`, on failure it is
    removed.

    Args:
        path: str. The file to write.
    """
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


@contextlib.contextmanager
def atomic_directory(path: str):
    """Yields a temporary directory path beside `path` to fill; on success it is renamed to
    `path`, on failure it is removed. Its name starts with a dot and is not a number, so
    readers of numbered version directories (TF Serving) never take it for one.

    Args:
        path: str. The directory to create; it must not exist.
    """
    parent, name = os.path.split(os.path.normpath(path))
    temporary = os.path.join(parent, f".{name}.tmp-{os.getpid()}")
    try:
        yield temporary
        os.rename(temporary, path)
    finally:
        if os.path.exists(temporary):
            shutil.rmtree(temporary)


def write_text(path: str, text: str) -> None:
    """Writes UTF-8 text to `path` atomically."""
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as f:
        f.write(text)


def write_json(path: str, data) -> None:
    """Writes `data` as indented UTF-8 JSON to `path` atomically."""
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
