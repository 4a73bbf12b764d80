"""Tests for benchmarks.debian_translation_set: the pure steps, on three made-up source packages
(hoge in train, piyo in valid, fuga in test), written as Packages and Translation-ja strings."""

import pytest

from benchmarks.debian_translation_set import (
    build_set,
    describe,
    document_sentences,
    join_wrapped,
    labeled_text,
    match_translations,
    parse_paragraphs,
    split_of,
    split_sentences,
    write_set,
)
from bert_tf.labeled_data import read_labeled_file

PACKAGES = """\
Package: hoge
Version: 1.0-1
Description: puzzle game
Description-md5: 00000000000000000000000000000001
Tag: game::puzzle, role::program,
 use::gameplaying

Package: libhoge1
Source: hoge (1.0-1)
Description: puzzle library
Description-md5: 00000000000000000000000000000002
Tag: role::program, role::shared-lib

Package: hoge-dbg
Source: hoge
Description: puzzle library, debugging symbols
Description-md5: 00000000000000000000000000000003
Tag: role::debug-symbols, role::program

Package: hoge-data
Source: hoge
Description: puzzle game data
Description-md5: 00000000000000000000000000000004
Tag: role::app-data

Package: hoge-doc
Source: hoge
Description: puzzle game documentation
Description-md5: 00000000000000000000000000000005

Package: piyo
Description: another game
Description-md5: 00000000000000000000000000000006
Tag: game::puzzle, role::program

Package: piyo-data
Source: piyo
Description: another game data
Description-md5: 00000000000000000000000000000007

Package: fuga
Description: editor
Description-md5: 00000000000000000000000000000008
Tag: implemented-in::c, role::program
"""

# hoge-dbg's translation repeats libhoge1's; hoge-old's translates an older description.
TRANSLATIONS = """\
Package: hoge
Description-md5: 00000000000000000000000000000001
Description-ja: パズルゲーム
 ほげはパズルゲー
 ムです。タイルを動かして遊びます！
 .
 機能:
  * 3 つの難易度
  * 高速な描画 (OpenGL
    を使用)

Package: libhoge1
Description-md5: 00000000000000000000000000000002
Description-ja: パズルライブラリ
 ほげのライブラリです。

Package: hoge-dbg
Description-md5: 00000000000000000000000000000003
Description-ja: パズルライブラリ
 ほげのライブラリです。

Package: hoge-data
Description-md5: 00000000000000000000000000000004
Description-ja: ほげのデータ
 ほげのデータファイルです。

Package: hoge-doc
Description-md5: 00000000000000000000000000000005
Description-ja: ほげの文書
 次の形式:
  - HTML
 本パッケージには文書が含まれます。

Package: hoge-old
Description-md5: 0000000000000000000000000000000f
Description-ja: 古い説明

Package: piyo
Description-md5: 00000000000000000000000000000006
Description-ja: 別のゲーム
 ぴよは別のゲームです。

Package: piyo-data
Description-md5: 00000000000000000000000000000007
Description-ja: 別のゲームのデータ
 ぴよのデータです。

Package: fuga
Description-md5: 00000000000000000000000000000008
Description-ja: エディタ
 ふがは C で書かれたエディタです。
"""

HOGE_TEXT = (
    "パズルゲーム ほげはパズルゲームです。タイルを動かして遊びます！ 機能: * 3 つの難易度 "
    "* 高速な描画 (OpenGL を使用)"
)


@pytest.fixture(scope="module")
def packages():
    return match_translations(parse_paragraphs(TRANSLATIONS), parse_paragraphs(PACKAGES), "ja")


@pytest.fixture(scope="module")
def translation_set(packages):
    return build_set(packages, "ja", min_label_count=2)


def test_the_fixture_sources_fall_one_in_each_split():
    assert [split_of(source) for source in ("hoge", "piyo", "fuga")] == ["train", "valid", "test"]


def test_paragraphs_keep_continuation_lines_with_their_indent():
    paragraphs = parse_paragraphs(PACKAGES)
    assert len(paragraphs) == 8
    assert paragraphs[0]["Tag"] == "game::puzzle, role::program,\n use::gameplaying"
    assert paragraphs[1]["Source"] == "hoge (1.0-1)"
    hoge = parse_paragraphs(TRANSLATIONS)[0]["Description-ja"]
    assert hoge.split("\n")[:2] == ["パズルゲーム", " ほげはパズルゲー"]


def test_translations_match_by_name_and_md5_and_take_source_and_tags(packages):
    by_name = {package.name: package for package in packages}
    assert sorted(by_name) == [
        "fuga", "hoge", "hoge-data", "hoge-dbg", "hoge-doc", "libhoge1", "piyo", "piyo-data"
    ]  # fmt: skip
    assert by_name["libhoge1"].source == "hoge"
    assert by_name["hoge"].source == "hoge"
    assert by_name["hoge"].tags == ("game::puzzle", "role::program", "use::gameplaying")
    assert by_name["hoge-doc"].tags == ()


def test_wrapped_lines_join_without_a_space_only_between_wide_characters():
    assert join_wrapped(["ほげはパズルゲー", "ムです。"]) == "ほげはパズルゲームです。"
    assert join_wrapped(["描画 (OpenGL", "を使用)"]) == "描画 (OpenGL を使用)"
    assert join_wrapped(["使用する", "X11　の  機能"]) == "使用する X11 の 機能"


def test_sentences_end_after_japanese_sentence_ends_and_at_paragraphs_and_list_items(packages):
    by_name = {package.name: package for package in packages}
    assert document_sentences(by_name["hoge"].description, "ja") == [
        "パズルゲーム",
        "ほげはパズルゲームです。",
        "タイルを動かして遊びます！",
        "機能:",
        "* 3 つの難易度",
        "* 高速な描画 (OpenGL を使用)",
    ]
    # A line back at the paragraph's indent ends the list item.
    assert document_sentences(by_name["hoge-doc"].description, "ja")[2:] == [
        "- HTML",
        "本パッケージには文書が含まれます。",
    ]
    assert split_sentences("本当？ はい（もちろん！）。「次。」最後", "ja") == [
        "本当？",
        "はい（もちろん！）。",
        "「次。」",
        "最後",
    ]
    assert labeled_text(by_name["hoge"].description) == HOGE_TEXT


def test_labels_are_the_tags_seen_often_enough_in_train(translation_set):
    # Train holds hoge, hoge-data and hoge-dbg (the first by name of it and libhoge1, which
    # share a text): only role::program is seen twice; piyo's game::puzzle in valid does not
    # count.
    assert translation_set.label_counts == {"role::program": 2}
    assert translation_set.examples["train"] == [
        (HOGE_TEXT, ("role::program",)),
        ("パズルライブラリ ほげのライブラリです。", ("role::program",)),
    ]
    # hoge-data keeps no label and is dropped; valid and test keep only the kept label.
    assert translation_set.counts["no_kept_label"] == 1
    assert translation_set.examples["valid"] == [
        ("別のゲーム ぴよは別のゲームです。", ("role::program",))
    ]
    assert translation_set.examples["test"] == [
        ("エディタ ふがは C で書かれたエディタです。", ("role::program",))
    ]


def test_a_source_s_binaries_share_its_split_and_repeated_texts_are_kept_once(translation_set):
    # By their own names hoge-doc and piyo-data would fall in each other's source's split.
    assert (split_of("hoge-doc"), split_of("piyo-data")) == ("valid", "train")
    assert translation_set.counts["duplicate_texts"] == 1
    assert translation_set.counts["train_split_texts"] == 4  # hoge, -data, -dbg, -doc
    assert translation_set.counts["valid_split_texts"] == 2  # piyo, piyo-data
    assert translation_set.counts["test_split_texts"] == 1


def test_pretrain_holds_train_packages_tagged_or_not_and_no_valid_or_test_package(
    translation_set,
):
    short_descriptions = [document[0] for document in translation_set.documents]
    assert short_descriptions == ["パズルゲーム", "ほげのデータ", "パズルライブラリ", "ほげの文書"]
    sentences = {sentence for document in translation_set.documents for sentence in document}
    assert not sentences & {"別のゲーム", "別のゲームのデータ", "エディタ"}


def test_written_files_are_well_formed_fasttext_and_train_small_is_train_s_head(
    translation_set, tmp_path
):
    write_set(translation_set, tmp_path, train_small_lines=1)
    for split, examples in translation_set.examples.items():
        lines = (tmp_path / f"{split}.txt").read_text(encoding="utf-8").splitlines()
        assert all("\t" not in line and line.count("__label__") >= 1 for line in lines)
        read = read_labeled_file(str(tmp_path / f"{split}.txt"))
        assert read.texts == [text for text, _ in examples]
        assert read.labels == [list(labels) for _, labels in examples]
    train = (tmp_path / "train.txt").read_text(encoding="utf-8").splitlines()
    assert (tmp_path / "train_small.txt").read_text(encoding="utf-8").splitlines() == train[:1]
    assert (tmp_path / "labels.txt").read_text(encoding="utf-8") == "role::program\t2\n"
    pretrain = (tmp_path / "pretrain.txt").read_text(encoding="utf-8")
    assert pretrain.count("\n\n") == len(translation_set.documents) - 1
    assert describe(translation_set, train_small_lines=1)["files"]["train_small"]["lines"] == 1
