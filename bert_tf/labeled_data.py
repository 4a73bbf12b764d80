"""Labeled examples in fastText format ("text __label__a __label__b"), of one text or of a pair
of tab-separated texts ("text_a<TAB>text_b __label__a"), and their label set."""

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bert_tf.errors import InputError
from bert_tf.text_files import read_text_lines

LABEL_PREFIX = "__label__"
EXPECTED_FORMAT = '"text __label__a [__label__b ...]"'
PAIR_FORMAT = '"text_a<TAB>text_b __label__a ..."'


def parse_fasttext_line(line: str) -> tuple[list[str], list[str]]:
    """Split one fastText-format line into its texts and its labels.

    Every whitespace-separated token starting with "__label__" is a label, wherever it stands
    (fastText writes them first, other tools last, some both); the other tokens, joined by single
    spaces, are the text. A tab separates two texts of a sentence pair; a tab-separated field
    holding only labels (or nothing) is no text, so "__label__a<TAB>text" is one text. Inside a
    text, spaces of any number separate words.

    Args:
        line: str. One line of a labeled file, without its line terminator.

    Returns:
        (texts, labels): the texts, one (a single text), two (a pair) or none; the label names
        without the prefix, in order of first appearance, duplicates removed, possibly empty.

    Raises:
        InputError: a token is the bare prefix "__label__" with no name, or the line has more
            than two tab-separated texts. The message has no file or line; read_labeled_file
            adds them.
    """
    texts = []
    labels = []
    for field in line.split("\t"):
        words = []
        for token in field.split():
            if not token.startswith(LABEL_PREFIX):
                words.append(token)
                continue
            name = token[len(LABEL_PREFIX) :]
            if not name:
                raise InputError(f'empty label "{LABEL_PREFIX}" (expected {EXPECTED_FORMAT})')
            labels.append(name)
        if words:
            texts.append(" ".join(words))
    if len(texts) > 2:
        raise InputError(
            f"{len(texts)} tab-separated texts; a line holds one text or a pair (expected "
            f"{EXPECTED_FORMAT} or {PAIR_FORMAT})"
        )
    return texts, list(dict.fromkeys(labels))


@dataclass(frozen=True)
class LabeledExamples:
    """The examples of one labeled file, and how many invalid lines were skipped.

    Attributes:
        texts: list[str]. One text per example: the only one, or a pair's first (A).
        labels: list[list[str]]. The label names of each example, parallel to texts.
        path: str. The file the examples came from, for messages.
        skipped_no_label: int. Lines skipped because they had text but no label.
        skipped_no_text: int. Lines skipped because they had labels but no text.
        second_texts: list[str] | None. A pair file's second texts (B), parallel to texts;
            None for a file of single texts.
    """

    texts: list[str]
    labels: list[list[str]]
    path: str
    skipped_no_label: int
    skipped_no_text: int
    second_texts: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def text_pairs(self) -> bool:
        """True for a file of sentence pairs."""
        return self.second_texts is not None


def read_labeled_file(
    path: str, what: str = "labeled file", skip_invalid: bool = False, single_label: bool = False
) -> LabeledExamples:
    """Read a fastText-format file of labeled examples, one per line.

    Blank lines are ignored. A line without a label or without text is a mistake the user should
    hear about, so it is an error by default; with skip_invalid it is skipped and counted instead,
    and the caller reports the counts, so nothing is dropped silently. A file holds either single
    texts or pairs: a line of the other kind than the first example's is an error.

    Args:
        path: str. The file to read (UTF-8, see read_text_lines).
        what: str. What the file is, in the user's words ("train file"); used in messages.
        skip_invalid: bool. Skip and count lines with no label or no text instead of failing.
        single_label: bool. Every line must have exactly one label (single-label
            classification); a line with more is an error, whatever skip_invalid says.

    Returns:
        The examples in file order, with the skip counts.

    Raises:
        InputError: the file cannot be read as text (see read_text_lines); a line has an empty
            "__label__" or more than two texts; a line has no label or no text and
            skip_invalid is False; single_label and a line has several labels; single texts
            and pairs are mixed; or no example remains.
    """
    texts = []
    second_texts = []
    labels = []
    skipped_no_label = 0
    skipped_no_text = 0
    first_line = None  # the first example's line number, and whether it is a pair
    for number, line in enumerate(read_text_lines(path, what), start=1):
        if not line.strip():
            continue
        try:
            line_texts, line_labels = parse_fasttext_line(line)
        except InputError as e:
            raise InputError(f"{path}:{number}: {e}") from None
        if single_label and len(line_labels) > 1:
            raise InputError(
                f"{path}:{number}: {len(line_labels)} labels ({', '.join(line_labels)}) in a "
                'single-label file (expected exactly one: "text __label__a"; a line with '
                "several labels needs --problem_type=multi_label)"
            )
        if line_labels and line_texts:
            if first_line is None:
                first_line = (number, len(line_texts) == 2)
            elif (len(line_texts) == 2) != first_line[1]:
                raise InputError(f"{path}:{number}: {_mixed_kinds(len(line_texts), first_line)}")
            texts.append(line_texts[0])
            second_texts.append(line_texts[-1])
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
    pairs = first_line[1]
    return LabeledExamples(
        texts, labels, path, skipped_no_label, skipped_no_text, second_texts if pairs else None
    )


def _mixed_kinds(num_texts: int, first_line: tuple) -> str:
    kinds = ("one text", "a pair of tab-separated texts")
    number, first_is_pair = first_line
    return (
        f"{kinds[num_texts == 2]}, but line {number} has {kinds[first_is_pair]}; a file holds "
        f"only single texts or only pairs ({PAIR_FORMAT})"
    )


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
