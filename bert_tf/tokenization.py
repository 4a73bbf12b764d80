"""Tokenization in the TensorFlow graph with tensorflow-text, and vocabulary learning.

Normalization is NFC plus case folding, with no accent stripping by default: BERT's uncased
normalization (NFD, then dropping combining marks) breaks Korean syllables into jamo and drops
Japanese voicing marks. A bundle imported from a model that was trained with accents stripped
(Google's uncased BERT) records `strip_accents` and does the same.

Text is cut into words before WordPiece splits them further, as BERT's basic tokenizer does:
at whitespace, around each punctuation mark, and around each CJK ideograph. Japanese and
Chinese have no spaces, so that leaves WordPiece single ideographs; `cjk_split="script_run"`
makes each run of Han, of hiragana and of katakana one word instead, so the vocabulary can
learn the compounds (東京, 大学) that character n-grams give a TF-IDF model.

The special tokens are found by name: vocabularies learned here put them first, Google's and
keras-hub's put `[PAD]` first and the others after a hundred `[unused]` tokens.
"""

import collections
import dataclasses
from typing import Iterable

import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib

from bert_tf import atomic_write, wordpiece_learner
from bert_tf.errors import InputError

#: BERT's special tokens, in the order `learn_vocabulary` puts them at ids 0-4.
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
TOKENIZER_KINDS = ("wordpiece", "whitespace")

#: BERT's word split (tensorflow-text's `BasicTokenizer`): every punctuation mark or ASCII symbol
#: is a word of its own.
_PUNCTUATION = r"[!-/]|[:-@]|[\[-`]|[{-~]|\p{P}"
#: The CJK ideograph blocks BERT splits one per character.
_BERT_CJK = (
    r"[\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
    r"\x{2B740}-\x{2B81F}\x{2B820}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}]"
)


@dataclasses.dataclass(frozen=True)
class _CjkWords:
    """The words one `cjk_split` cuts CJK text into, and the longest word WordPiece splits
    (a longer one becomes [UNK])."""

    pattern: str
    max_bytes_per_word: int


CJK_SPLITS = {
    # BERT's: one word per ideograph; kana runs between them are words.
    "character": _CjkWords(_BERT_CJK, 100),
    # One word per run of Han, of hiragana, of katakana (with the long-vowel mark ー). A Chinese
    # clause is one run, so the longest word is raised to 150 ideographs.
    "script_run": _CjkWords(r"\p{Han}+|\p{Hiragana}+|[\p{Katakana}\x{30FC}]+", 450),
}


@dataclasses.dataclass(frozen=True)
class SpecialTokenIds:
    """The ids of the special tokens in one vocabulary.

    The defaults are where `learn_vocabulary` puts them; other vocabularies (Google's,
    keras-hub's) have them elsewhere, so code that handles any vocabulary takes a tokenizer's
    `special_ids` instead.
    """

    pad: int = 0
    unk: int = 1
    cls: int = 2
    sep: int = 3
    mask: int = 4

    @classmethod
    def find(cls, vocabulary: list[str]) -> "SpecialTokenIds":
        """Finds each special token by name, wherever it is in the vocabulary.

        Raises:
            InputError: naming the special tokens the vocabulary lacks.
        """
        position = {token: i for i, token in enumerate(vocabulary)}
        missing = [token for token in SPECIAL_TOKENS if token not in position]
        if missing:
            raise InputError(
                f"vocabulary has no {' '.join(missing)}; expected each of "
                f"{' '.join(SPECIAL_TOKENS)} on a line of its own, anywhere in it"
            )
        return cls(*(position[token] for token in SPECIAL_TOKENS))

    @classmethod
    def from_names(cls, ids_by_token: dict) -> "SpecialTokenIds":
        """The inverse of `by_name`: from `{"[PAD]": 0, ...}` (a bundle's config)."""
        return cls(*(int(ids_by_token[token]) for token in SPECIAL_TOKENS))

    def by_name(self) -> dict:
        """`{"[PAD]": id, "[UNK]": id, ...}`, as a bundle's config records them."""
        return dict(zip(SPECIAL_TOKENS, self.all()))

    def all(self) -> tuple:
        """Every special id, in `SPECIAL_TOKENS` order: the ids masking never selects."""
        return (self.pad, self.unk, self.cls, self.sep, self.mask)


@dataclasses.dataclass(frozen=True)
class TokenizerConfig:
    """Everything besides the vocabulary that rebuilds a tokenizer (saved in the bundle)."""

    kind: str = "wordpiece"
    lower_case: bool = True
    normalization_form: str = "NFC"
    strip_accents: bool = False
    cjk_split: str = "character"

    def __post_init__(self):
        if self.kind not in TOKENIZER_KINDS:
            raise InputError(f"unknown tokenizer {self.kind!r}; expected one of {TOKENIZER_KINDS}")
        if self.cjk_split not in CJK_SPLITS:
            raise InputError(
                f"unknown cjk_split {self.cjk_split!r}; expected one of {tuple(CJK_SPLITS)}"
            )


def normalize(texts: tf.Tensor, config: TokenizerConfig) -> tf.Tensor:
    """Applies the configured Unicode normalization, case folding and accent stripping (NFD,
    then dropping the combining marks, as tensorflow-text's `BertTokenizer(lower_case=True)`
    does) to a string tensor."""
    if config.normalization_form:
        texts = tf_text.normalize_utf8(texts, config.normalization_form)
    if config.lower_case:
        texts = tf_text.case_fold_utf8(texts)
    if config.strip_accents:
        texts = tf.strings.regex_replace(tf_text.normalize_utf8(texts, "NFD"), r"\p{Mn}", "")
    return texts


def split_words(texts: tf.Tensor, config: TokenizerConfig) -> tf.RaggedTensor:
    """Cuts normalized texts into the words WordPiece splits: at whitespace (control and format
    characters count as spaces), around punctuation, and CJK text as `config.cjk_split` says.

    Returns:
        tf.RaggedTensor string [B, None].
    """
    words = f"{_PUNCTUATION}|{CJK_SPLITS[config.cjk_split].pattern}"
    texts = tf.strings.regex_replace(texts, r"\p{Cc}|\p{Cf}", " ")
    return tf_text.regex_split(texts, rf"\s+|{words}", words)


class Tokenizer:
    """Maps raw strings to token ids in the graph: `tokenize(["a b"])` -> ragged int32 [B, None].

    Args:
        vocabulary: list[str]. Tokens by id; each of `SPECIAL_TOKENS` must be in it, anywhere.
        config: TokenizerConfig. Kind and normalization.
        special_ids: SpecialTokenIds or None. Where a bundle's config says the special tokens
            are (checked against the vocabulary); None to find them by name.

    Attributes:
        special_ids: SpecialTokenIds. Used for [CLS]/[SEP], padding and masking.

    Raises:
        InputError: the vocabulary lacks a special token, has duplicates, or disagrees with
            `special_ids`.
    """

    def __init__(
        self,
        vocabulary: list[str],
        config: TokenizerConfig,
        special_ids: SpecialTokenIds | None = None,
    ):
        duplicates = [t for t, n in collections.Counter(vocabulary).items() if n > 1]
        if duplicates:
            raise InputError(f"vocabulary has duplicate tokens: {duplicates[:5]}")
        found = SpecialTokenIds.find(vocabulary)
        if special_ids is not None and special_ids != found:
            raise InputError(
                f"the special tokens are at {found.by_name()} in the vocabulary, but the "
                f"config says {special_ids.by_name()}; vocabulary and config do not belong together"
            )
        self.vocabulary = list(vocabulary)
        self.config = config
        self.special_ids = found
        initializer = tf.lookup.KeyValueTensorInitializer(
            tf.constant(self.vocabulary), tf.range(len(self.vocabulary), dtype=tf.int64)
        )
        if config.kind == "wordpiece":
            # One OOV bucket is required by the table; the wordpiece op maps unknown words to
            # [UNK] itself, so the bucket id is never produced.
            table = tf.lookup.StaticVocabularyTable(initializer, num_oov_buckets=1)
            self._wordpiece = tf_text.WordpieceTokenizer(
                table,
                max_bytes_per_word=CJK_SPLITS[config.cjk_split].max_bytes_per_word,
                token_out_type=tf.int64,
                unknown_token="[UNK]",
            )
        else:
            self._table = tf.lookup.StaticHashTable(initializer, default_value=self.special_ids.unk)

    @property
    def resources(self) -> tf.Module | tf.lookup.StaticHashTable:
        """The lookup table (or the tensorflow-text tokenizer holding it) that `tokenize` uses;
        a SavedModel must track it to save the vocabulary."""
        return self._wordpiece if self.config.kind == "wordpiece" else self._table

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    @property
    def continuation_ids(self) -> tuple:
        """The ids of the wordpieces that continue a word (`##…`), which whole-word masking
        keeps with the piece before them; none for a whitespace vocabulary."""
        if self.config.kind != "wordpiece":
            return ()
        return tuple(i for i, token in enumerate(self.vocabulary) if token.startswith("##"))

    def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """Tokenizes a batch of raw strings.

        Args:
            texts: tf.Tensor string [B]. Raw text.

        Returns:
            tf.RaggedTensor int32 [B, None]: token ids, no special tokens added.
        """
        texts = normalize(tf.convert_to_tensor(texts), self.config)
        if self.config.kind == "wordpiece":
            ids = self._wordpiece.tokenize(split_words(texts, self.config)).merge_dims(-2, -1)
        else:
            ids = self._table.lookup(tf.strings.split(texts))
        return tf.cast(ids, tf.int32)

    def save_vocabulary(self, path: str) -> None:
        """Writes the vocabulary, one token a line, in id order (atomically: a temporary file,
        then a rename)."""
        atomic_write.write_text(path, "".join(token + "\n" for token in self.vocabulary))

    @classmethod
    def from_files(
        cls,
        vocabulary_path: str,
        config: TokenizerConfig,
        special_ids: SpecialTokenIds | None = None,
    ) -> "Tokenizer":
        """Rebuilds a tokenizer from a `vocab.txt` and its config.

        Raises:
            InputError: naming the file: missing, not UTF-8, or not a usable vocabulary.
        """
        vocabulary = read_vocabulary(vocabulary_path)
        try:
            return cls(vocabulary, config, special_ids)
        except InputError as e:
            raise InputError(f"{vocabulary_path}: {e}") from None


def read_vocabulary(path: str) -> list[str]:
    """The tokens of a `vocab.txt`, one a line, in id order (`\n` or `\r\n` line ends).

    Raises:
        InputError: a missing file or one that is not UTF-8.
    """
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\r\n") for line in f]
    except FileNotFoundError:
        raise InputError(f"{path}: vocabulary file not found") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not valid UTF-8 ({e.reason})") from None


def learn_vocabulary(
    texts: Iterable[str], config: TokenizerConfig, vocabulary_size: int, min_count: int = 2
) -> list[str]:
    """Learns a vocabulary from raw texts, special tokens first.

    Args:
        texts: iterable of str. The corpus, e.g. its sentences.
        config: TokenizerConfig. The kind decides the method: tensorflow-text's wordpiece
            algorithm (`wordpiece_learner`; `vocabulary_size` is its target), or whitespace
            tokens seen at least `min_count` times (the most frequent `vocabulary_size` of
            them).
        vocabulary_size: int. Upper bound on the vocabulary size, special tokens included.
        min_count: int. Whitespace mode: the least number of occurrences to keep a token.

    Returns:
        list[str]: the vocabulary, `SPECIAL_TOKENS` first.
    """
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(list(texts), tf.string)).batch(4096)
    dataset = dataset.map(lambda batch: normalize(batch, config))
    if config.kind == "wordpiece":
        # As `bert_vocab_from_dataset`: the tokenizer's word split, then the wordpiece learner
        # (the same vocabulary as tensorflow-text's, several times faster).
        words = dataset.map(lambda batch: split_words(batch, config))
        word_counts = wordpiece_tokenizer_learner_lib.count_words(words.prefetch(tf.data.AUTOTUNE))
        vocabulary = wordpiece_learner.learn(word_counts, vocabulary_size, list(SPECIAL_TOKENS))
        # The learner keeps reserved tokens first and may add them again among the pieces.
        seen = set()
        vocabulary = [t for t in vocabulary if not (t in seen or seen.add(t))]
        return vocabulary[:vocabulary_size]
    counts = collections.Counter()
    for batch in dataset.map(tf.strings.split):
        counts.update(token.decode("utf-8") for token in batch.flat_values.numpy())
    kept = [t for t, n in counts.most_common() if n >= min_count and t not in SPECIAL_TOKENS]
    return list(SPECIAL_TOKENS) + kept[: vocabulary_size - len(SPECIAL_TOKENS)]
