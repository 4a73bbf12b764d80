"""The keras-hub side of `benchmarks.throughput`: BERT masked-LM training and wordpiece
vocabulary learning as a keras-hub user runs them.

keras-hub is imported inside each function, so the benchmark runs without it (and says so).
The model is `BertBackbone` + `BertMaskedLM(preprocessor=None)` compiled with AdamW, fed by
`BertMaskedLMPreprocessor` mapped over a `tf.data` dataset of texts: every sequence padded to
the fixed length, as its guides do.
"""

import itertools
import time

import keras
import tensorflow as tf

from bert_tf.tokenization import SPECIAL_TOKENS


def version():
    """(keras-hub's version, "") or (None, why it cannot be used)."""
    try:
        import keras_hub
    except Exception as e:  # ImportError, or an install that breaks on import
        return None, f"`import keras_hub` failed ({type(e).__name__}: {e})"
    return keras_hub.__version__, ""


def document_texts(corpus):
    """One text per document of a `Corpus`: its sentences joined by spaces."""
    grouped = itertools.groupby(zip(corpus.document_ids.tolist(), corpus.sentences), lambda x: x[0])
    return [" ".join(sentence for _, sentence in group) for _, group in grouped]


def full_length_texts(corpus, min_words):
    """Texts of consecutive sentences (across documents) of at least `min_words` words each, so
    that every one fills the sequence (a word is at least one wordpiece)."""
    texts, current, words = [], [], 0
    for sentence in corpus.sentences:
        current.append(sentence)
        words += len(sentence.split())
        if words >= min_words:
            texts.append(" ".join(current))
            current, words = [], 0
    return texts


def masked_lm_dataset(texts, vocabulary, *, sequence_length, batch_size, predictions, seed=0):
    """Endless batches `(x, y, sample_weight)` from `BertMaskedLMPreprocessor` mapped over
    shuffled batches of texts (lower-cased, as the project's tokenizer is)."""
    import keras_hub

    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=list(vocabulary), lowercase=True)
    preprocessor = keras_hub.models.BertMaskedLMPreprocessor(
        tokenizer,
        sequence_length=sequence_length,
        mask_selection_rate=0.15,
        mask_selection_length=predictions,
    )
    return (
        tf.data.Dataset.from_tensor_slices(tf.constant(texts))
        .shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def token_counts(dataset, num_batches):
    """Iterates `num_batches` batches of `masked_lm_dataset`: batches/s and the mean padded and
    useful (non-padding) tokens per batch."""
    iterator = iter(dataset)
    next(iterator)  # the first batch fills the shuffle buffer
    useful, padded, started = 0, 0, time.perf_counter()
    for _ in range(num_batches):
        x, _, _ = next(iterator)
        useful += int(tf.reduce_sum(tf.cast(x["padding_mask"], tf.int64)))
        padded += int(tf.size(x["token_ids"]))
    seconds = time.perf_counter() - started
    return {
        "batches_per_second": num_batches / seconds,
        "padded_tokens_per_batch": padded / num_batches,
        "useful_tokens_per_batch": useful / num_batches,
    }


def inputs(corpus, vocabulary, *, sequence_length, batch_size, predictions, num_batches):
    """keras-hub's datasets of the corpus, `real` (one document per sequence) and `full`
    (texts that fill every sequence), and their token counts over `num_batches` batches."""
    texts = {"real": document_texts(corpus), "full": full_length_texts(corpus, sequence_length)}
    datasets = {
        kind: masked_lm_dataset(
            texts[kind],
            vocabulary,
            sequence_length=sequence_length,
            batch_size=batch_size,
            predictions=predictions,
        )
        for kind in texts
    }
    return datasets, {kind: token_counts(data, num_batches) for kind, data in datasets.items()}


def masked_lm_model(backbone_config, learning_rate, weight_decay, seed=0):
    """`BertMaskedLM` on a `BertBackbone` of the project Transformer's sizes, compiled with
    AdamW and keras-hub's default loss and weighted accuracy."""
    import keras_hub

    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=backbone_config["vocabulary_size"],
        num_layers=backbone_config["num_layers"],
        num_heads=backbone_config["num_heads"],
        hidden_dim=backbone_config["hidden_dim"],
        intermediate_dim=backbone_config["intermediate_dim"],
        dropout=backbone_config.get("dropout", 0.1),
        max_sequence_length=backbone_config["max_sequence_length"],
    )
    model = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay))
    return model


class _Clock(keras.callbacks.Callback):
    """Calls `clock(step, logs)` after every training batch (steps counted from 1)."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def on_train_batch_end(self, batch, logs=None):
        self.clock(batch + 1, logs)


def train(model, dataset, num_steps, clock):
    """`model.fit` for `num_steps` steps (one epoch), `clock(step, logs)` after each."""
    model.fit(dataset, epochs=1, steps_per_epoch=num_steps, callbacks=[_Clock(clock)], verbose=0)


def vocabulary_seconds(sentences, vocabulary_size):
    """Seconds `compute_word_piece_vocabulary` takes on the sentences (in batches of 4096, as
    the project's learner reads them), lower-casing, accents kept; and the size it learned."""
    import keras_hub

    data = tf.data.Dataset.from_tensor_slices(tf.constant(list(sentences))).batch(4096)
    started = time.perf_counter()
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        data,
        vocabulary_size,
        lowercase=True,
        strip_accents=False,
        reserved_tokens=list(SPECIAL_TOKENS),
    )
    return time.perf_counter() - started, len(vocabulary)
