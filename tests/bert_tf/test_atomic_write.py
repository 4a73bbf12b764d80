"""Tests for bert_tf.atomic_write: a file is replaced whole or not at all."""

import json
import os

import pytest

from bert_tf import atomic_write


def test_write_json_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("old", encoding="utf-8")
    atomic_write.write_json(str(path), {"é": [1, 2]})
    assert json.loads(path.read_text(encoding="utf-8")) == {"é": [1, 2]}
    assert os.listdir(tmp_path) == ["a.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with atomic_write.atomic_path(str(path)) as temporary:
            with open(temporary, "w", encoding="utf-8") as f:
                f.write("half")
            raise RuntimeError("crash mid-write")
    assert path.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["a.txt"]
