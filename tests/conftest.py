"""Shared fixtures: a tiny corpus on disk, a tiny tokenizer, tiny configs for every backbone.

Everything is small (vocabulary ~50, hidden_dim 16, 1-2 layers, sequences <= 32) so the whole
suite stays fast on two CPU cores. Sizes come from the one table in `tests/helpers/tiny_configs`.
Backbone fixtures are parametrized over `backbones.BACKBONES`: a newly registered backbone goes
through every contract test by itself.
"""

import keras
import numpy as np
import pytest
from corpora import TINY_CORPUS
from tiny_configs import tiny_overrides

import backbones
from bert_tf.tokenization import SPECIAL_TOKENS, Tokenizer, TokenizerConfig

TINY_VOCABULARY_SIZE = 50


@pytest.fixture(autouse=True)
def _seeded():
    """Fixed seeds for every test (Python, NumPy, TensorFlow)."""
    keras.utils.set_random_seed(1234)


@pytest.fixture
def corpus_path(tmp_path):
    """A UTF-8 corpus of 3 documents (3, 4 and 2 sentences), blank-line separated."""
    path = tmp_path / "corpus.txt"
    path.write_text(TINY_CORPUS, encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def tiny_vocabulary():
    """Special tokens then 45 words and pieces: ids 0..49."""
    words = (
        "the cat sat on mat dog log a and met birds fly over sea is blue sky sing in morning "
        "sun warm small boat sails red . , ##s ##ed ##ing"
    ).split()
    letters = [chr(c) for c in range(ord("b"), ord("z") + 1) if chr(c) not in words]
    vocabulary = list(SPECIAL_TOKENS) + words
    vocabulary += letters[: TINY_VOCABULARY_SIZE - len(vocabulary)]
    assert len(vocabulary) == TINY_VOCABULARY_SIZE
    return vocabulary


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_vocabulary):
    return Tokenizer(tiny_vocabulary, TokenizerConfig("wordpiece"))


def tiny_backbone_config(name: str, vocabulary_size: int = TINY_VOCABULARY_SIZE, **changes) -> dict:
    """The constructor kwargs of a tiny backbone `name` (its `tiny` preset, shrunk), with two
    layers so that stacking is tested, and 32 positions."""
    settings = tiny_overrides(name, **{"num_layers": 2, "max_sequence_length": 32, **changes})
    return backbones.backbone_config(name, vocabulary_size, "tiny", **settings)


@pytest.fixture(scope="module", params=sorted(backbones.BACKBONES))
def backbone_name(request):
    """Every registered backbone name, one test each."""
    return request.param


@pytest.fixture(scope="module")
def backbone_config(backbone_name):
    return tiny_backbone_config(backbone_name)


@pytest.fixture(scope="module")
def backbone(backbone_name, backbone_config):
    """A tiny backbone, built once per test file (tests must not change its weights)."""
    keras.utils.set_random_seed(4321)  # not the per-test seed: a rebuilt copy must differ
    return backbones.build(backbone_name, backbone_config)


def make_inputs(lengths, sequence_length=None, vocabulary_size=TINY_VOCABULARY_SIZE, seed=0):
    """A dense backbone batch: `[CLS] tokens [SEP]` of the given lengths, padded with [PAD].

    Returns:
        dict of np.ndarray int32 [B, S]: `token_ids`, `segment_ids` (0 for the first half of
        each sequence, 1 after), `padding_mask`.
    """
    rng = np.random.default_rng(seed)
    sequence_length = sequence_length or max(lengths)
    batch = len(lengths)
    token_ids = np.zeros((batch, sequence_length), np.int32)
    segment_ids = np.zeros((batch, sequence_length), np.int32)
    padding_mask = np.zeros((batch, sequence_length), np.int32)
    for row, length in enumerate(lengths):
        token_ids[row, :length] = rng.integers(len(SPECIAL_TOKENS), vocabulary_size, length)
        token_ids[row, 0] = SPECIAL_TOKENS.index("[CLS]")
        token_ids[row, length - 1] = SPECIAL_TOKENS.index("[SEP]")
        segment_ids[row, length // 2 : length] = 1
        padding_mask[row, :length] = 1
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}


@pytest.fixture(scope="session")
def inputs_factory():
    """`make_inputs` as a fixture, so test files need not import conftest."""
    return make_inputs


@pytest.fixture(scope="session")
def tiny_backbone_config_factory():
    """`tiny_backbone_config` as a fixture."""
    return tiny_backbone_config
