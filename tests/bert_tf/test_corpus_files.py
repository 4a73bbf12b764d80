"""Tests for bert_tf.corpus_files: which files --corpus names, the streaming scan (layouts,
checks, the bounded vocabulary sample) and sentence batches that agree with read_corpus."""

import logging

import numpy as np
import pytest

from bert_tf.corpus import read_corpus
from bert_tf.corpus_files import Position, corpus_paths, scan_corpus, sentence_batches
from bert_tf.errors import InputError

DOCUMENTS = "First one.\nSecond one.\n\n\nThird, new document.\n\nFourth.\nFifth!\n"
LINES = "A line is a document. It has two sentences.\nAnother document!\nLast one\n\n"


def write(directory, name, text, encoding="utf-8"):
    path = directory / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return str(path)


def test_corpus_paths_takes_a_file_a_glob_or_a_directory(tmp_path):
    b = write(tmp_path, "b.txt", DOCUMENTS)
    a = write(tmp_path, "a.txt", LINES)
    write(tmp_path, ".hidden.txt", "not me")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "c.txt", "nor me")
    assert corpus_paths(b) == [b]
    assert corpus_paths(str(tmp_path / "*.txt")) == [a, b]
    assert corpus_paths(str(tmp_path)) == [a, b]


def test_a_glob_that_matches_nothing_is_an_error(tmp_path):
    with pytest.raises(InputError, match=r"nope/\*\.txt: the pattern matches no file"):
        corpus_paths(str(tmp_path / "nope" / "*.txt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="the directory holds no files"):
        corpus_paths(str(tmp_path / "empty"))


def test_scan_finds_each_files_layout_and_counts_lines(tmp_path):
    paths = [write(tmp_path, "d.txt", DOCUMENTS), write(tmp_path, "l.txt", LINES)]
    scan = scan_corpus(paths)
    assert [(f.layout, f.num_lines) for f in scan.files] == [("documents", 5), ("lines", 3)]
    assert scan.num_lines == 8 and scan.sample == []


def test_scan_keeps_every_line_in_order_below_the_sample_size(tmp_path):
    paths = [write(tmp_path, "d.txt", DOCUMENTS), write(tmp_path, "l.txt", LINES)]
    sample = scan_corpus(paths, sample_lines=100).sample
    expected = [line for text in (DOCUMENTS, LINES) for line in text.splitlines() if line]
    assert sample == expected


def test_the_vocabulary_sample_is_bounded_and_drawn_from_the_whole_corpus(tmp_path):
    paths = [
        write(tmp_path, f"part{k}.txt", "".join(f"line {k}-{i}\n" for i in range(500)))
        for k in range(4)
    ]
    scan = scan_corpus(paths, sample_lines=100, seed=3)
    assert len(scan.sample) == 100 and scan.num_lines == 2000
    assert len(set(scan.sample)) == 100
    parts = [line.split()[1].split("-")[0] for line in scan.sample]
    assert {parts.count(str(k)) for k in range(4)} <= set(range(10, 45))  # about 25 each
    assert scan_corpus(paths, sample_lines=100, seed=3).sample == scan.sample  # seeded


def test_one_bad_file_among_many_is_named_before_anything_is_read_on(tmp_path):
    good = write(tmp_path, "a.txt", DOCUMENTS)
    bad = write(tmp_path, "b.txt", b"fine\ncaf\xe9\n")
    with pytest.raises(InputError, match=r"b\.txt:2: invalid UTF-8"):
        scan_corpus([good, bad, good])
    with pytest.raises(InputError, match=r"missing\.txt: corpus not found"):
        scan_corpus([good, str(tmp_path / "missing.txt")])


def test_an_empty_file_is_skipped_among_others_and_an_error_alone(tmp_path, caplog):
    good = write(tmp_path, "a.txt", DOCUMENTS)
    empty = write(tmp_path, "empty.txt", "")
    with caplog.at_level(logging.WARNING):
        scan = scan_corpus([empty, good])
    assert [f.path for f in scan.files] == [good]
    assert "empty.txt: skipped" in caplog.text
    with pytest.raises(InputError, match=r"empty\.txt: the corpus is empty"):
        scan_corpus([empty])


@pytest.mark.parametrize("text", [DOCUMENTS, LINES], ids=["documents", "lines"])
def test_sentence_batches_agree_with_read_corpus(tmp_path, text):
    path = write(tmp_path, "c.txt", "\ufeff\r\n" + text.replace("\n", "\r\n"))
    expected = read_corpus(path)
    scan = scan_corpus([path])
    batches = list(sentence_batches(scan.files, batch_size=2))
    assert [len(b.sentences) for b in batches[:-1]] == [2] * (len(batches) - 1)
    assert sum((b.sentences for b in batches), []) == expected.sentences
    documents = np.concatenate([b.documents for b in batches])
    assert np.array_equal(documents, expected.document_ids)


def test_sentence_batches_continue_from_a_recorded_position(tmp_path):
    paths = [write(tmp_path, "d.txt", DOCUMENTS), write(tmp_path, "l.txt", LINES)]
    files = scan_corpus(paths).files
    everything = next(sentence_batches(files, batch_size=100))
    # Resume after the second document of the first file ("Third, new document.").
    cut = everything.sentences.index("Third, new document.") + 1
    position = Position(*everything.ends[cut - 1].tolist())
    assert position.file == 0 and position.line == 5
    rest = next(sentence_batches(files, position, batch_size=100))
    assert rest.sentences == everything.sentences[cut:]
    # Document numbers restart, but the boundaries are the same.
    assert np.array_equal(
        np.diff(rest.documents), np.diff(everything.documents[cut:])
    ), rest.documents
