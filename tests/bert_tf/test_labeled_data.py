"""Tests for bert_tf.labeled_data: fastText lines (single texts and tab-separated pairs), labeled
files and the label set."""

from collections import Counter

import numpy as np
import pytest

from bert_tf.errors import InputError
from bert_tf.labeled_data import LabelSet, parse_fasttext_line, read_labeled_file


def write(tmp_path, text: str, name: str = "train.txt") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    "line",
    [
        "__label__a __label__b some text here",
        "some text here __label__a __label__b",
        "__label__a some text here __label__b",
        "__label__a\tsome   text   here  __label__b __label__a ",
        "__label__a __label__b\t\tsome text here\t",
    ],
)
def test_parse_labels_first_last_both_and_whitespace(line):
    assert parse_fasttext_line(line) == (["some text here"], ["a", "b"])


def test_parse_keeps_label_order_and_drops_duplicates():
    assert parse_fasttext_line("__label__z x __label__a __label__z") == (["x"], ["z", "a"])


def test_parse_no_label_and_no_text():
    assert parse_fasttext_line("just text") == (["just text"], [])
    assert parse_fasttext_line("__label__a __label__b") == ([], ["a", "b"])


@pytest.mark.parametrize(
    "line",
    [
        "the first  text\tthe second __label__x",
        "__label__x the first text\t the second\t__label__y",
        "__label__x\tthe first text\t\tthe second",
    ],
)
def test_a_tab_between_two_texts_makes_a_pair(line):
    texts, labels = parse_fasttext_line(line)
    assert texts == ["the first text", "the second"]
    assert labels[0] == "x"


def test_three_tab_separated_texts_are_an_error():
    with pytest.raises(InputError, match="3 tab-separated texts"):
        parse_fasttext_line("a\tb\tc __label__x")


def test_parse_empty_label_is_an_error():
    with pytest.raises(InputError, match="empty label"):
        parse_fasttext_line("text __label__ __label__a")


def test_read_file_with_several_labels_and_blank_lines(tmp_path):
    path = write(tmp_path, "__label__a __label__b first\n\n  \nsecond __label__c\n")
    examples = read_labeled_file(path)
    assert len(examples) == 2
    assert examples.texts == ["first", "second"]
    assert examples.labels == [["a", "b"], ["c"]]
    assert examples.path == path
    assert (examples.skipped_no_label, examples.skipped_no_text) == (0, 0)


def test_line_without_label_is_an_error_with_file_and_line(tmp_path):
    path = write(tmp_path, "__label__a ok\n\nno label here\n")
    with pytest.raises(InputError) as error:
        read_labeled_file(path, "train file")
    assert str(error.value) == (
        f'{path}:3: no __label__ token (expected "text __label__a [__label__b ...]")'
    )


def test_line_with_only_labels_is_an_error_with_file_and_line(tmp_path):
    path = write(tmp_path, "__label__a ok\n__label__a __label__b\n")
    with pytest.raises(InputError, match=rf"^{path}:2: no text, only labels"):
        read_labeled_file(path)


def test_empty_label_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "__label__a ok\ntext __label__\n")
    with pytest.raises(InputError, match=rf"^{path}:2: empty label"):
        read_labeled_file(path, skip_invalid=True)


def test_skip_invalid_counts_skipped_lines(tmp_path):
    text = "__label__a one\nno label\n__label__b\nalso none\n__label__b two\n"
    examples = read_labeled_file(write(tmp_path, text), skip_invalid=True)
    assert examples.texts == ["one", "two"]
    assert examples.labels == [["a"], ["b"]]
    assert examples.skipped_no_label == 2
    assert examples.skipped_no_text == 1


def test_no_example_left_is_an_error(tmp_path):
    path = write(tmp_path, "no label\n__label__a\n")
    with pytest.raises(InputError, match="no usable example.*1 lines without a label"):
        read_labeled_file(path, skip_invalid=True)


def test_a_pair_file_keeps_both_texts_in_order(tmp_path):
    path = write(tmp_path, "one A\tone B __label__x\n\n__label__y two A\ttwo B\n")
    examples = read_labeled_file(path)
    assert examples.text_pairs
    assert examples.texts == ["one A", "two A"]
    assert examples.second_texts == ["one B", "two B"]
    assert examples.labels == [["x"], ["y"]]
    single = read_labeled_file(write(tmp_path, "just one text __label__x\n", "single.txt"))
    assert not single.text_pairs and single.second_texts is None


@pytest.mark.parametrize(
    "text, first_kind, later_kind",
    [
        ("a\tb __label__x\n\nc\td __label__x\ne f __label__y\n", "a pair", "one text"),
        ("a b __label__x\nc __label__x\n\nd\te __label__y\n", "one text", "a pair"),
    ],
)
def test_a_file_mixing_pairs_and_single_texts_names_the_first_line_that_differs(
    tmp_path, text, first_kind, later_kind
):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as error:
        read_labeled_file(path, skip_invalid=True)
    message = str(error.value)
    assert message.startswith(f"{path}:4: {later_kind}"), message
    assert f"line 1 has {first_kind}" in message


def test_single_label_file_with_two_labels_on_a_line_names_the_line(tmp_path):
    path = write(tmp_path, "one __label__x\ntwo __label__x\nthree __label__x __label__y\n")
    assert len(read_labeled_file(path)) == 3  # multi-label: fine
    with pytest.raises(InputError, match=rf"^{path}:3: 2 labels \(x, y\)") as error:
        read_labeled_file(path, single_label=True, skip_invalid=True)
    assert "--problem_type=multi_label" in str(error.value)
    # A label repeated on a line is still one label.
    same = write(tmp_path, "one __label__x __label__x\n", "same.txt")
    assert read_labeled_file(same, single_label=True).labels == [["x"]]


def test_missing_labeled_file_mentions_what(tmp_path):
    with pytest.raises(InputError, match="test file not found"):
        read_labeled_file(str(tmp_path / "missing.txt"), "test file")


def test_label_set_orders_by_frequency_then_name():
    labels = LabelSet.from_examples([["b", "c"], ["c"], ["a", "b", "c"], ["d"]])
    # Counts: c=3, b=2, a=1, d=1 -> c, b, then a before d by name.
    assert labels.names == ["c", "b", "a", "d"]
    assert len(labels) == 4
    assert labels.index("a") == 2
    with pytest.raises(InputError, match='unknown label "zz"'):
        labels.index("zz")


def test_label_set_json_round_trip_and_validation():
    labels = LabelSet(["x", "y"])
    assert LabelSet.from_json(labels.to_json()) == labels
    with pytest.raises(InputError):
        LabelSet.from_json({"x": 0})
    with pytest.raises(InputError, match="repeated"):
        LabelSet.from_json(["x", "x"])
    with pytest.raises(InputError):
        LabelSet.from_json(["x", ""])


def test_encode_counts_unseen_labels():
    labels = LabelSet(["a", "b", "c"])
    multi_hot, unseen = labels.encode([["a", "c"], ["new", "b"], ["new", "other"]])
    assert multi_hot.dtype == np.float32
    np.testing.assert_array_equal(multi_hot, [[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    assert unseen == Counter({"new": 2, "other": 1})


def test_decode_returns_names_in_column_order():
    labels = LabelSet(["a", "b", "c"])
    assert labels.decode(np.array([True, False, True])) == ["a", "c"]
    assert labels.decode([0, 0, 0]) == []
    with pytest.raises(ValueError):
        labels.decode([True, False])
