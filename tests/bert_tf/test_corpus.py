"""Tests for bert_tf.corpus: both corpus layouts and the errors for unusable files."""

import numpy as np
import pytest

from bert_tf.corpus import read_corpus
from bert_tf.errors import InputError


def write(tmp_path, text, name="corpus.txt", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return str(path)


def sentences_per_document(corpus):
    return np.bincount(corpus.document_ids).tolist()


def test_blank_line_layout(corpus_path):
    corpus = read_corpus(corpus_path)
    assert corpus.layout == "documents"
    assert corpus.num_documents == 3
    assert sentences_per_document(corpus) == [3, 4, 2]
    assert corpus.sentences[0] == "The cat sat on the mat."
    assert corpus.sentences[3] == "Birds fly over the sea."
    assert corpus.sentences[-1] == "The boat is red."
    assert corpus.path == corpus_path


def test_blank_line_layout_keeps_every_line_whole_and_tolerates_extra_blanks(tmp_path):
    # Several blank lines (some with spaces), CRLF ends and blank lines at both ends: the
    # documents are the same; a line with two sentences stays one sentence in this layout.
    text = (
        "\r\n\r\nOne. Two still line one.\r\nThree.\r\n \r\n\r\n"
        "Four.\r\n\r\n\r\nFive.\r\nSix.\r\n\r\n"
    )
    corpus = read_corpus(write(tmp_path, text))
    assert corpus.layout == "documents"
    assert corpus.sentences == ["One. Two still line one.", "Three.", "Four.", "Five.", "Six."]
    assert corpus.document_ids.tolist() == [0, 0, 1, 2, 2]


def test_one_document_per_line_layout_splits_sentences(tmp_path):
    text = (
        "The cat sat. The dog ran! Did it rain? Yes\n"
        "東京は晴れ。 大阪は雨。\n"
        "A single sentence without a final stop\n"
        "Version 1.5 is out. Numbers like 3.14 stay whole.\n"
    )
    corpus = read_corpus(write(tmp_path, text))
    assert corpus.layout == "lines"
    assert corpus.num_documents == 4
    assert sentences_per_document(corpus) == [4, 2, 1, 2]
    assert corpus.sentences[:4] == ["The cat sat.", "The dog ran!", "Did it rain?", "Yes"]
    assert corpus.sentences[4:6] == ["東京は晴れ。", "大阪は雨。"]
    assert corpus.sentences[7:] == ["Version 1.5 is out.", "Numbers like 3.14 stay whole."]


def test_single_line_corpus_is_one_document(tmp_path):
    corpus = read_corpus(write(tmp_path, "Only one. Two sentences.\n"))
    assert corpus.num_documents == 1
    assert corpus.sentences == ["Only one.", "Two sentences."]


def test_missing_corpus_names_the_path(tmp_path):
    path = str(tmp_path / "no_such_corpus.txt")
    with pytest.raises(InputError, match="no_such_corpus.txt.*not found"):
        read_corpus(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"\n\n   \n\t\n", "only blank lines"),
        (b"good line\n\xff\xfe bad bytes\n", "invalid UTF-8"),
    ],
    ids=["empty", "blank-only", "not-utf8"],
)
def test_unusable_corpus_names_the_path(tmp_path, content, message):
    path = write(tmp_path, content, name="bad_corpus.txt")
    with pytest.raises(InputError, match=message) as error:
        read_corpus(path)
    assert path in str(error.value)


def test_directory_instead_of_corpus(tmp_path):
    with pytest.raises(InputError, match="directory") as error:
        read_corpus(str(tmp_path))
    assert str(tmp_path) in str(error.value)
