"""Multi-label examples in fastText format ("text __label__a __label__b") and their label set."""

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bert_tf.errors import InputError
from bert_tf.text_files import read_text_lines

LABEL_PREFIX = "__label__"
EXPECTED_FORMAT = '"text __label__a [__label__b ...]"'


def parse_fasttext_line(line: str) -> tuple[str, list[str]]:
    """Split one fastText-format line into its text and its labels.

    Every whitespace-separated token starting with "__label__" is a label, wherever it stands
    (fastText writes them first, other tools last, some both); the other tokens, joined by single
    spaces, are the text. Splitting on any whitespace makes tabs and repeated spaces harmless.

    Args:
        line: str. One line of a labeled file, without its line terminator.

    Returns:
        (text, labels): the text, possibly empty; the label names without the prefix, in order
        of first appearance, duplicates removed, possibly empty.

    Raises:
        InputError: a token is the bare prefix "__label__" with no name. The message has no
            file or line; read_labeled_file adds them.
    """
    words = []
    labels = []
    for token in line.split():
        if not token.startswith(LABEL_PREFIX):
            words.append(token)
            continue
        name = token[len(LABEL_PREFIX) :]
        if not name:
            raise InputError(f'empty label "{LABEL_PREFIX}" (expected {EXPECTED_FORMAT})')
        labels.append(name)
    return " ".join(words), list(dict.fromkeys(labels))


@dataclass(frozen=True)
class LabeledExamples:
    """The examples of one labeled file, and how many invalid lines were skipped.

    Attributes:
        texts: list[str]. One text per example.
        labels: list[list[str]]. The label names of each example, parallel to texts.
        path: str. The file the examples came from, for messages.
        skipped_no_label: int. Lines skipped because they had text but no label.
        skipped_no_text: int. Lines skipped because they had labels but no text.
    """

    texts: list[str]
    labels: list[list[str]]
    path: str
    skipped_no_label: int
    skipped_no_text: int

    def __len__(self) -> int:
        return len(self.texts)


def read_labeled_file(
    path: str, what: str = "labeled file", skip_invalid: bool = False
) -> LabeledExamples:
    """Read a fastText-format file of multi-label examples, one per line.

    Blank lines are ignored. A line without a label or without text is a mistake the user should
    hear about, so it is an error by default; with skip_invalid it is skipped and counted instead,
    and the caller reports the counts, so nothing is dropped silently.

    Args:
        path: str. The file to read (UTF-8, see read_text_lines).
        what: str. What the file is, in the user's words ("train file"); used in messages.
        skip_invalid: bool. Skip and count lines with no label or no text instead of failing.

    Returns:
        The examples in file order, with the skip counts.

    Raises:
        InputError: the file cannot be read as text (see read_text_lines); a line has an empty
            "__label__"; a line has no label or no text and skip_invalid is False; or no
            example remains.
    """
    texts = []
    labels = []
    skipped_no_label = 0
    skipped_no_text = 0
    for number, line in enumerate(read_text_lines(path, what), start=1):
        if not line.strip():
            continue
        try:
            text, line_labels = parse_fasttext_line(line)
        except InputError as e:
            raise InputError(f"{path}:{number}: {e}") from None
        if line_labels and text:
            texts.append(text)
            labels.append(line_labels)
            continue
        if not skip_invalid:
            problem = "no __label__ token" if not line_labels else "no text, only labels"
            raise InputError(f"{path}:{number}: {problem} (expected {EXPECTED_FORMAT})")
        if not line_labels:
            skipped_no_label += 1
        else:
            skipped_no_text += 1
    if not texts:
        raise InputError(
            f"{path}: no usable example in the {what} ({skipped_no_label} lines without a label "
            f"and {skipped_no_text} without text were skipped; expected {EXPECTED_FORMAT})"
        )
    return LabeledExamples(texts, labels, path, skipped_no_label, skipped_no_text)


class LabelSet:
    """The ordered label vocabulary: label name <-> column of the model's output."""

    def __init__(self, names: Sequence[str]):
        """Make a label set with the given column order.

        Args:
            names: Sequence[str]. The label names, column 0 first.

        Raises:
            InputError: a name is not a non-empty string, or a name repeats (both can come from a
                hand-edited saved label set).
        """
        names = list(names)
        for name in names:
            if not isinstance(name, str) or not name:
                raise InputError(f"label set: label names must be non-empty strings, got {name!r}")
        repeated = [name for name, count in Counter(names).items() if count > 1]
        if repeated:
            raise InputError(f"label set: repeated label names {repeated}")
        self._names = names
        self._columns = {name: column for column, name in enumerate(names)}

    @classmethod
    def from_examples(cls, label_lists: Iterable[Iterable[str]]) -> "LabelSet":
        """Build the label set of some examples, most frequent label first.

        Frequency order puts the labels that matter most at the top of reports; ties are broken
        by name so the same data always gives the same columns.

        Args:
            label_lists: Iterable[Iterable[str]]. The label names of each example.

        Returns:
            The label set, ordered by descending frequency, then name.

        Raises:
            InputError: see __init__.
        """
        counts = Counter(name for names in label_lists for name in names)
        return cls(sorted(counts, key=lambda name: (-counts[name], name)))

    @property
    def names(self) -> list[str]:
        """The label names in column order (a copy)."""
        return list(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelSet) and self._names == other._names

    def __repr__(self) -> str:
        return f"LabelSet({self._names!r})"

    def index(self, name: str) -> int:
        """Return the column of a label.

        Args:
            name: str. A label name.

        Returns:
            Its column, 0-based.

        Raises:
            InputError: the label is not in the set.
        """
        try:
            return self._columns[name]
        except KeyError:
            shown = ", ".join(self._names[:10]) + (", ..." if len(self._names) > 10 else "")
            raise InputError(
                f'unknown label "{name}" (the label set has {len(self)}: {shown})'
            ) from None

    def to_json(self) -> list[str]:
        """Return the label set as a JSON-serialisable value: the names in column order."""
        return self.names

    @classmethod
    def from_json(cls, data: object) -> "LabelSet":
        """Rebuild a label set from the value of to_json.

        Args:
            data: object. A list of label names, as returned by to_json and read back from JSON.

        Returns:
            The label set with the same column order.

        Raises:
            InputError: data is not a list of unique non-empty strings.
        """
        if not isinstance(data, list):
            raise InputError(
                f"label set: expected a list of label names, got {type(data).__name__}"
            )
        return cls(data)

    def encode(self, label_lists: Iterable[Iterable[str]]) -> tuple[np.ndarray, Counter]:
        """Turn label name lists into multi-hot rows.

        Labels outside the set (e.g. in a test file but not in the train file) cannot get a
        column; they are counted rather than dropped silently, so the caller can report them.

        Args:
            label_lists: Iterable[Iterable[str]]. The label names of each example.

        Returns:
            (multi_hot, unseen): float32 array [examples, labels] with 1.0 where the example has
            the label; Counter of label names not in the set, with how often they occurred.

        Raises:
            Nothing.
        """
        label_lists = list(label_lists)
        multi_hot = np.zeros((len(label_lists), len(self._names)), dtype=np.float32)
        unseen = Counter()
        for row, names in enumerate(label_lists):
            for name in names:
                column = self._columns.get(name)
                if column is None:
                    unseen[name] += 1
                else:
                    multi_hot[row, column] = 1.0
        return multi_hot, unseen

    def decode(self, row: Sequence[bool] | np.ndarray) -> list[str]:
        """Turn one row of decisions into label names.

        Args:
            row: Sequence[bool] | np.ndarray. One value per label, true (nonzero) where the label
                is assigned, e.g. a row of decide_labels.

        Returns:
            The assigned label names, in column order.

        Raises:
            ValueError: row is not 1-D with one value per label (a programming error).
        """
        row = np.asarray(row).astype(bool)
        if row.shape != (len(self._names),):
            raise ValueError(f"expected a row of {len(self._names)} values, got shape {row.shape}")
        return [name for name, assigned in zip(self._names, row) if assigned]
