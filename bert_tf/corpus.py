"""Reads a raw pretraining corpus into sentences grouped by document."""

import dataclasses
import re

import numpy as np

from bert_tf.errors import InputError
from bert_tf.text_files import read_text_lines

# A sentence ends at . ! ? (or their CJK forms) followed by whitespace.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Sentences in corpus order, each with the index of its document.

    Attributes:
        sentences: list[str]. Non-empty sentences.
        document_ids: np.ndarray int64 [num_sentences]. Non-decreasing document index.
        layout: str. "documents" (blank-line separated) or "lines" (one document per line).
        path: str. Where it was read from.
    """

    sentences: list[str]
    document_ids: np.ndarray
    layout: str
    path: str

    @property
    def num_documents(self) -> int:
        return int(self.document_ids[-1]) + 1


def split_sentences(line: str) -> list[str]:
    """The sentences of a one-document line, split at sentence-final punctuation."""
    return [part for part in _SENTENCE_END.split(line) if part]


def read_corpus(path: str) -> Corpus:
    """Reads a corpus in either layout BERT users have.

    With blank lines between documents, every line is a sentence (BERT's convention). With no
    blank line between two non-blank lines anywhere, every line is a document, split into
    sentences at sentence-final punctuation so next-sentence pairs can be made.

    Args:
        path: str. A UTF-8 text file.

    Returns:
        Corpus.

    Raises:
        InputError: the file is missing, empty, only blank lines, or not UTF-8.
    """
    lines = [line.strip() for line in read_text_lines(path, "corpus")]
    first = next(i for i, line in enumerate(lines) if line)
    last = max(i for i, line in enumerate(lines) if line)
    has_document_breaks = any(not line for line in lines[first:last])
    sentences, document_ids = [], []
    if has_document_breaks:
        document = 0
        for previous, line in zip([""] + lines[first:last], lines[first : last + 1]):
            if line:
                document += bool(not previous and sentences)
                sentences.append(line)
                document_ids.append(document)
        layout = "documents"
    else:
        for document, line in enumerate(lines[first : last + 1]):
            parts = split_sentences(line)
            sentences.extend(parts)
            document_ids.extend([document] * len(parts))
        layout = "lines"
    if not sentences:
        raise InputError(f"{path}: the corpus has no text")
    return Corpus(sentences, np.asarray(document_ids, np.int64), layout, path)
