"""Tests for bert_tf.tokenization: normalization, wordpiece and whitespace modes, vocabularies."""

import unicodedata

import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf.errors import InputError
from bert_tf.tokenization import (
    SPECIAL_TOKENS,
    SpecialTokenIds,
    Tokenizer,
    TokenizerConfig,
    learn_vocabulary,
    normalize,
    split_words,
)

CJK_CORPUS = [
    "デジタルな日本語のテキストです。",
    "東京大学でデジタル技術を勉強する。",
    "한국어 문장입니다. 한국어를 좋아해요.",
    "서울에서 한국어를 공부합니다.",
] * 3


def tokens_of(tokenizer: Tokenizer, text: str) -> list[str]:
    ids = tokenizer.tokenize(tf.constant([text])).numpy()[0]
    return [tokenizer.vocabulary[i] for i in ids]


def joined(tokens: list[str]) -> str:
    """Wordpieces glued back into words (no spaces)."""
    return "".join(t[2:] if t.startswith("##") else t for t in tokens)


def is_decomposed(character: str) -> bool:
    """A combining mark (e.g. the dakuten U+3099) or a Hangul jamo: what NFD would leave."""
    code = ord(character)
    return (
        unicodedata.combining(character) != 0
        or 0x1100 <= code <= 0x11FF  # Hangul jamo
        or 0x3130 <= code <= 0x318F  # Hangul compatibility jamo
    )


def normalized(text: str, config: TokenizerConfig = TokenizerConfig()) -> str:
    return normalize(tf.constant([text]), config).numpy()[0].decode("utf-8")


@pytest.fixture(scope="module")
def cjk_tokenizer():
    config = TokenizerConfig("wordpiece")
    return Tokenizer(learn_vocabulary(CJK_CORPUS, config, vocabulary_size=300), config)


def test_normalization_keeps_japanese_voicing_and_korean_syllables():
    assert normalized("デ") == "デ"  # one code point, not テ + U+3099
    assert len(normalized("デ")) == 1
    assert normalized("한국어") == "한국어"
    assert len(normalized("한국어")) == 3  # syllables, not 8 jamo
    # NFC composes what arrives decomposed.
    assert normalized("テ\u3099") == "デ"
    assert normalized("\u1112\u1161\u11ab") == "한"


def test_case_folded_by_default_and_accents_kept():
    assert normalized("Héllo") == "héllo"
    assert normalized("ÀÉÎ Straße") == "àéî strasse"
    assert normalized("Héllo", TokenizerConfig(lower_case=False)) == "Héllo"


def test_learned_vocabulary_on_japanese_and_korean(cjk_tokenizer):
    vocabulary = cjk_tokenizer.vocabulary
    assert tuple(vocabulary[: len(SPECIAL_TOKENS)]) == SPECIAL_TOKENS
    assert len(set(vocabulary)) == len(vocabulary)
    assert len(vocabulary) <= 300
    for piece in ("デ", "ジ", "한", "국", "어"):
        assert piece in vocabulary or "##" + piece in vocabulary
    for token in vocabulary:
        assert not any(is_decomposed(c) for c in token), token


def test_japanese_and_korean_tokens_survive(cjk_tokenizer):
    tokens = tokens_of(cjk_tokenizer, "デジタルな日本語")
    assert "[UNK]" not in tokens
    assert tokens[0] == "デ"
    assert joined(tokens) == "デジタルな日本語"
    tokens = tokens_of(cjk_tokenizer, "한국어 문장")
    assert "[UNK]" not in tokens
    assert tokens[0] == "한"
    assert joined(tokens) == "한국어문장"
    assert not any(is_decomposed(c) for t in tokens for c in t)


def test_cjk_ideographs_split_one_per_character(cjk_tokenizer):
    # The learned vocabulary also holds "##京" etc.; per-character splitting must still make
    # every ideograph a word of its own.
    assert "##京" in cjk_tokenizer.vocabulary
    assert tokens_of(cjk_tokenizer, "東京大学") == ["東", "京", "大", "学"]


MIXED_TEXTS = [
    "Hello, world! It's 3.5% (ok)... [MASK] a@b.c",
    "東京大学でデジタルな日本語を学ぶ。",
    "naïve café\u200bzero\twidth\x07bell",
    "中文句子，没有空格。한국어 문장",
    "x" * 120 + " 々〆ー・テキストー",
]


def test_character_split_is_berts():
    """The default word split gives tensorflow-text's `BertTokenizer` ids, so bundles learned
    before it and imported BERT vocabularies tokenize as before."""
    config = TokenizerConfig()
    vocabulary = learn_vocabulary(MIXED_TEXTS * 3, config, vocabulary_size=200)
    table = tf.lookup.StaticVocabularyTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(vocabulary), tf.range(len(vocabulary), dtype=tf.int64)
        ),
        num_oov_buckets=1,
    )
    reference = tf_text.BertTokenizer(table, token_out_type=tf.int64, unknown_token="[UNK]")
    texts = tf.constant(MIXED_TEXTS)
    expected = reference.tokenize(normalize(texts, config)).merge_dims(-2, -1)
    assert Tokenizer(vocabulary, config).tokenize(texts).to_list() == expected.to_list()


def words_of(text: str, cjk_split: str) -> list[str]:
    words = split_words(tf.constant([text]), TokenizerConfig(cjk_split=cjk_split))
    return [w.decode("utf-8") for w in words.to_list()[0]]


def test_script_run_split_keeps_han_runs_and_cuts_at_script_changes():
    assert words_of("東京大学でデジタルな日本語を学ぶ。", "script_run") == [
        *("東京大学", "で", "デジタル", "な", "日本語", "を", "学", "ぶ", "。"),
    ]
    assert words_of("東京大学でデジタル", "character") == [*"東京大学", "でデジタル"]
    # The long-vowel mark stays in its katakana word; Hangul, Latin and punctuation as BERT.
    assert words_of("サーバー用 server-side 한국어", "script_run") == [
        *("サーバー", "用", "server", "-", "side", "한국어"),
    ]


def test_script_run_vocabulary_learns_han_compounds():
    corpus = ["東京大学で勉強する。", "東京の大学です。", "大学は東京にある。"] * 10
    config = TokenizerConfig(cjk_split="script_run")
    tokenizer = Tokenizer(learn_vocabulary(corpus, config, vocabulary_size=60), config)
    assert tokens_of(tokenizer, "東京大学の大学に東京") == ["東京大学", "の", "大学", "に", "東京"]
    per_character = TokenizerConfig()
    assert "東京" not in learn_vocabulary(corpus, per_character, vocabulary_size=60)


def test_unknown_cjk_split_is_named():
    with pytest.raises(InputError, match="cjk_split 'word'"):
        TokenizerConfig(cjk_split="word")


def test_wordpiece_folds_case_keeps_accents_and_composes_nfc():
    vocabulary = list(SPECIAL_TOKENS) + ["hello", "héllo", "world", "##s"]
    tokenizer = Tokenizer(vocabulary, TokenizerConfig("wordpiece"))
    ids = lambda text: tokenizer.tokenize(tf.constant([text])).numpy()[0].tolist()  # noqa: E731
    hello, accented, world, plural = 5, 6, 7, 8
    assert ids("Héllo WORLDS") == [accented, world, plural]
    assert ids("HELLO he\u0301llo") == [hello, accented]  # NFD input composed to é
    assert ids("hallo") == [tokenizer.special_ids.unk]


def test_wordpiece_without_case_folding_keeps_case():
    vocabulary = list(SPECIAL_TOKENS) + ["Hello", "hello"]
    tokenizer = Tokenizer(vocabulary, TokenizerConfig("wordpiece", lower_case=False))
    assert tokenizer.tokenize(tf.constant(["Hello hello"])).numpy()[0].tolist() == [5, 6]


def test_tokenize_returns_ragged_int32_rows(tiny_tokenizer):
    ids = tiny_tokenizer.tokenize(tf.constant(["The cat sat.", "", "birds"]))
    assert isinstance(ids, tf.RaggedTensor)
    assert ids.dtype == tf.int32
    vocabulary = tiny_tokenizer.vocabulary
    assert [[vocabulary[i] for i in row] for row in ids.numpy().tolist()] == [
        ["the", "cat", "sat", "."],
        [],
        ["birds"],
    ]


def test_whitespace_vocabulary_respects_min_count_and_size():
    config = TokenizerConfig("whitespace")
    texts = ["w123 c456 w123", "c456 W123 w9", "c7 c7 c456"]
    vocabulary = learn_vocabulary(texts, config, vocabulary_size=100, min_count=2)
    # Counts (case folded): w123 3, c456 3, c7 2, w9 1.
    assert vocabulary[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert sorted(vocabulary[len(SPECIAL_TOKENS) :]) == ["c456", "c7", "w123"]
    assert learn_vocabulary(texts, config, vocabulary_size=100, min_count=3)[5:] in (
        ["w123", "c456"],
        ["c456", "w123"],
    )
    smallest = learn_vocabulary(texts, config, vocabulary_size=6, min_count=1)
    assert len(smallest) == 6 and smallest[5] in ("w123", "c456")


def test_whitespace_ids_and_unknown():
    config = TokenizerConfig("whitespace")
    tokenizer = Tokenizer(list(SPECIAL_TOKENS) + ["w123", "c456"], config)
    ids = tokenizer.tokenize(tf.constant(["w123 c456  W123\tw9", "c456-x c456"])).to_list()
    # Whitespace only: no split at digits or punctuation; unknown tokens become [UNK] (id 1).
    assert ids == [[5, 6, 5, 1], [1, 6]]
    assert tokenizer.special_ids.unk == 1


#: Google's (and keras-hub's) layout: [PAD], [unused] tokens, then [UNK] [CLS] [SEP] [MASK].
GOOGLE_LAYOUT = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "w123"]


@pytest.mark.parametrize("kind", ["wordpiece", "whitespace"])
def test_special_tokens_are_found_by_name_anywhere(kind):
    tokenizer = Tokenizer(GOOGLE_LAYOUT + ["[unused2]", "c456"], TokenizerConfig(kind))
    assert tokenizer.special_ids == SpecialTokenIds(pad=0, unk=3, cls=4, sep=5, mask=6)
    assert tokenizer.special_ids.by_name() == {
        "[PAD]": 0,
        "[UNK]": 3,
        "[CLS]": 4,
        "[SEP]": 5,
        "[MASK]": 6,
    }
    assert tokenizer.tokenize(tf.constant(["w123 nothing c456"])).to_list() == [[7, 3, 9]]
    reordered = Tokenizer(
        ["hello", "[UNK]", "[PAD]", "[MASK]", "[SEP]", "[CLS]"], TokenizerConfig()
    )
    assert reordered.special_ids.all() == (2, 1, 5, 4, 3)


@pytest.mark.parametrize("kind", ["wordpiece", "whitespace"])
def test_vocabulary_without_a_special_token_is_rejected(kind):
    with pytest.raises(InputError, match=r"no \[MASK\]; expected each of \[PAD\] \[UNK\]"):
        Tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"], TokenizerConfig(kind))


def test_special_ids_given_by_a_config_must_match_the_vocabulary(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(GOOGLE_LAYOUT) + "\n", encoding="utf-8")
    recorded = SpecialTokenIds(pad=0, unk=3, cls=4, sep=5, mask=6)
    assert Tokenizer.from_files(str(path), TokenizerConfig(), recorded).special_ids == recorded
    with pytest.raises(InputError, match=r"vocab.txt: .*\[MASK\]': 6.*config says"):
        Tokenizer.from_files(str(path), TokenizerConfig(), SpecialTokenIds())


def test_strip_accents_as_uncased_bert_does():
    stripped = TokenizerConfig(lower_case=True, strip_accents=True)
    assert normalized("Café Naïve ÅNGSTRÖM", stripped) == "cafe naive angstrom"
    assert normalized("Café", TokenizerConfig()) == "café"  # kept by default
    tokenizer = Tokenizer(list(SPECIAL_TOKENS) + ["cafe", "café"], stripped)
    assert tokens_of(tokenizer, "CAFÉ") == ["cafe"]


def test_vocabulary_with_duplicates_is_rejected():
    with pytest.raises(InputError, match="duplicate.*hello"):
        Tokenizer(list(SPECIAL_TOKENS) + ["hello", "world", "hello"], TokenizerConfig())


def test_unknown_tokenizer_kind():
    with pytest.raises(InputError, match="sentencepiece"):
        TokenizerConfig("sentencepiece")


@pytest.mark.parametrize("kind", ["wordpiece", "whitespace"])
def test_vocabulary_save_load_round_trip(tmp_path, kind):
    config = TokenizerConfig(kind)
    vocabulary = list(SPECIAL_TOKENS) + ["デ", "한국어", "héllo", "##s", "w123", "東"]
    tokenizer = Tokenizer(vocabulary, config)
    path = str(tmp_path / "vocab.txt")
    tokenizer.save_vocabulary(path)
    with open(path, encoding="utf-8") as f:
        assert f.read().splitlines() == vocabulary
    loaded = Tokenizer.from_files(path, config)
    assert loaded.vocabulary == vocabulary
    texts = tf.constant(["héllo 한국어 w123", "デ 東 unknown"])
    assert loaded.tokenize(texts).to_list() == tokenizer.tokenize(texts).to_list()


def test_load_vocabulary_errors_name_the_file(tmp_path):
    missing = str(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="missing.txt"):
        Tokenizer.from_files(missing, TokenizerConfig())
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("\n".join(SPECIAL_TOKENS + ("café",)).encode("latin-1"))
    with pytest.raises(InputError, match="latin1.txt.*UTF-8"):
        Tokenizer.from_files(str(latin1), TokenizerConfig())
