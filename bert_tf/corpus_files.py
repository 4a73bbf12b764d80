"""The files of a raw corpus, read as streams: never whole, so a corpus may exceed memory.

`--corpus` names one file, a glob or a directory of text files. `scan_corpus` reads them once,
line by line, before anything is written: it checks every file (readable, UTF-8) so a bad file
among many stops the run at once with its name and line; finds each file's layout (the rule of
`corpus.read_corpus`, per file); and samples a bounded number of lines for vocabulary learning.
`sentence_batches` then reads the files again in batches of sentences, from any position a
previous, interrupted run recorded.
"""

import dataclasses
import glob
import os
import random
from collections.abc import Iterator

import numpy as np
from absl import logging

from bert_tf.corpus import split_sentences
from bert_tf.errors import InputError
from bert_tf.text_files import decode_line, open_text_file, stream_text_lines

WHAT = "corpus"


def corpus_paths(spec: str) -> list[str]:
    """The text files `spec` names: itself, the files a glob matches, or a directory's files
    (not its subdirectories or hidden files), sorted.

    Raises:
        InputError: a glob that matches no file, or a directory without files.
    """
    if os.path.isdir(spec):
        paths = sorted(
            os.path.join(spec, name)
            for name in os.listdir(spec)
            if not name.startswith(".") and os.path.isfile(os.path.join(spec, name))
        )
        if not paths:
            raise InputError(f"--corpus={spec}: the directory holds no files (expected text files)")
        return paths
    if glob.has_magic(spec):
        paths = sorted(path for path in glob.glob(spec) if os.path.isfile(path))
        if not paths:
            raise InputError(
                f"--corpus={spec}: the pattern matches no file (a file, a glob such as "
                "'texts/*.txt', or a directory of text files was expected)"
            )
        return paths
    return [spec]


def file_identity(path: str) -> dict:
    """What says a file is unchanged since shards were made from it: path, size, mtime.

    Raises:
        InputError: the file is missing or cannot be read.
    """
    open_text_file(path, WHAT).close()
    stat = os.stat(path)
    return {"path": path, "size": stat.st_size, "modified_ns": stat.st_mtime_ns}


@dataclasses.dataclass(frozen=True)
class CorpusFile:
    """One file of a corpus.

    Attributes:
        path: str.
        layout: str. "documents" (blank lines between documents) or "lines" (a document a line).
        num_lines: int. Lines with text.
    """

    path: str
    layout: str
    num_lines: int


@dataclasses.dataclass(frozen=True)
class CorpusScan:
    """What one pass over a corpus found.

    Attributes:
        files: list[CorpusFile]. The files with text, in order.
        sample: list[str]. Lines with text, stripped: all of them in corpus order when there
            are at most `sample_lines`, else `sample_lines` drawn uniformly (reservoir sampling).
        num_lines: int. Lines with text in all files.
    """

    files: list
    sample: list
    num_lines: int


def scan_corpus(paths: list[str], sample_lines: int = 0, seed: int = 0) -> CorpusScan:
    """Reads every file once, in bounded memory (the sample aside).

    A file that is empty or only blank lines is an error when it is the corpus's only file, and
    is skipped with a warning among others.

    Args:
        paths: list[str]. From `corpus_paths`.
        sample_lines: int. Most lines kept for vocabulary learning (0: none).
        seed: int. Seeds the sampling.

    Raises:
        InputError: a file is missing, unreadable or not UTF-8 (naming it and the line); or no
            file has text.
    """
    rng = random.Random(seed)
    files, sample, seen = [], [], 0
    for path in paths:
        lines = has_text = 0
        text_seen = blank_after_text = document_breaks = False
        for line in stream_text_lines(path, WHAT):
            lines += 1
            text = line.strip()
            if not text:
                blank_after_text = text_seen
                continue
            document_breaks = document_breaks or blank_after_text
            text_seen, blank_after_text = True, False
            has_text += 1
            seen += 1
            if len(sample) < sample_lines:
                sample.append(text)
            elif sample_lines:
                slot = rng.randrange(seen)
                if slot < sample_lines:
                    sample[slot] = text
        if not has_text:
            problem = "is empty (0 bytes)" if not lines else "holds only blank lines"
            if len(paths) == 1:
                raise InputError(f"{path}: the {WHAT} {problem}")
            logging.warning("%s: skipped, the file %s", path, problem)
            continue
        files.append(CorpusFile(path, "documents" if document_breaks else "lines", has_text))
    if not files:
        raise InputError(f"{', '.join(paths[:3])}{' ...' if len(paths) > 3 else ''}: no text")
    return CorpusScan(files, sample, seen)


@dataclasses.dataclass(frozen=True)
class Position:
    """Where reading stopped: after `line` lines (`offset` bytes) of file `file`."""

    file: int = 0
    offset: int = 0
    line: int = 0


@dataclasses.dataclass
class SentenceBatch:
    """Consecutive sentences of a corpus.

    Attributes:
        sentences: list[str].
        documents: np.ndarray int64 [n]. A running document number, non-decreasing.
        ends: np.ndarray int64 [n, 3]. The `Position` after each sentence's line.
    """

    sentences: list
    documents: np.ndarray
    ends: np.ndarray


def sentence_batches(
    files: list, start: Position = Position(), batch_size: int = 4096
) -> Iterator[SentenceBatch]:
    """The corpus's sentences from `start` on, with document numbers, in batches.

    A file starts a document; in the documents layout a blank line ends one, in the lines
    layout every line is one, split into sentences at sentence-final punctuation (as
    `corpus.read_corpus` does). `start` must be a document boundary (where a shard ended).

    Args:
        files: list[CorpusFile].
        start: Position.
        batch_size: int. Sentences a batch.

    Raises:
        InputError: a file cannot be read or is not UTF-8 (naming it and the line).
    """
    sentences, documents, ends = [], [], []
    document = -1
    for index in range(start.file, len(files)):
        corpus_file = files[index]
        offset, number = (start.offset, start.line) if index == start.file else (0, 0)
        new_document = True
        with open_text_file(corpus_file.path, WHAT) as f:
            f.seek(offset)
            for raw in f:
                offset += len(raw)
                number += 1
                text = decode_line(raw, number, corpus_file.path, WHAT).strip()
                if not text:
                    new_document = True
                    continue
                if new_document or corpus_file.layout == "lines":
                    document += 1
                    new_document = False
                parts = split_sentences(text) if corpus_file.layout == "lines" else [text]
                sentences.extend(parts)
                documents.extend([document] * len(parts))
                ends.extend([(index, offset, number)] * len(parts))
                if len(sentences) >= batch_size:
                    yield _batch(sentences, documents, ends)
                    sentences, documents, ends = [], [], []
    if sentences:
        yield _batch(sentences, documents, ends)


def _batch(sentences, documents, ends) -> SentenceBatch:
    return SentenceBatch(
        sentences, np.asarray(documents, np.int64), np.asarray(ends, np.int64).reshape(-1, 3)
    )
