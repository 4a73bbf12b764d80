"""Tests for bert_tf.text_files.read_text_lines."""

import pytest

from bert_tf.errors import InputError
from bert_tf.text_files import read_text_lines


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_lf_and_blank_lines_kept_so_index_is_line_number(tmp_path):
    path = write(tmp_path, "a.txt", b"one\n\ntwo\n")
    assert read_text_lines(path, "corpus") == ["one", "", "two"]


def test_crlf_terminators_are_removed(tmp_path):
    path = write(tmp_path, "a.txt", b"one\r\ntwo\r\nthree")
    assert read_text_lines(path, "corpus") == ["one", "two", "three"]


def test_bom_is_dropped(tmp_path):
    path = write(tmp_path, "a.txt", b"\xef\xbb\xbfcaf\xc3\xa9\nx\n")
    assert read_text_lines(path, "corpus") == ["caf\u00e9", "x"]


def test_invalid_utf8_names_file_line_and_column(tmp_path):
    path = write(tmp_path, "latin.txt", b"ok\nstill ok\ncaf\xe9 au lait\nlast\n")
    with pytest.raises(InputError) as error:
        read_text_lines(path, "train file")
    message = str(error.value)
    assert f"{path}:3:" in message
    assert "byte column 4" in message
    assert "UTF-8" in message and "iconv" in message


def test_invalid_utf8_column_counts_the_bom(tmp_path):
    path = write(tmp_path, "bom.txt", b"\xef\xbb\xbfab\xff\n")
    with pytest.raises(InputError, match=r":1: invalid UTF-8 at byte column 6"):
        read_text_lines(path, "corpus")


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.txt")
    with pytest.raises(InputError) as error:
        read_text_lines(path, "corpus")
    message = str(error.value)
    assert path in message and "corpus not found" in message and "flag" in message


def test_directory(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        read_text_lines(str(tmp_path), "corpus")


def test_empty_file(tmp_path):
    path = write(tmp_path, "empty.txt", b"")
    with pytest.raises(InputError, match=r"the corpus is empty \(0 bytes\)"):
        read_text_lines(path, "corpus")


@pytest.mark.parametrize("data", [b"\n\n", b"  \n\t\r\n \n", b"\xef\xbb\xbf\n"])
def test_only_blank_lines(tmp_path, data):
    path = write(tmp_path, "blank.txt", data)
    with pytest.raises(InputError, match="only blank lines"):
        read_text_lines(path, "corpus")


def test_one_megabyte_single_line(tmp_path):
    line = "word " * 200_000 + "\u00e9"
    path = write(tmp_path, "long.txt", line.encode("utf-8") + b"\n")
    assert read_text_lines(path, "corpus") == [line]
