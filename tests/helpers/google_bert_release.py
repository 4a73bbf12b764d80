"""A tiny Google BERT release written the way google-research/bert writes one, and BERT's
forward pass in numpy from the checkpoint's raw arrays, as `modeling.py` computes it.

The release is a directory with `bert_config.json`, `vocab.txt` (Google's layout: `[PAD]`,
`[unused]` tokens, then `[UNK] [CLS] [SEP] [MASK]`) and a TF1 name-based checkpoint
`bert_model.ckpt.*` saved by `tf.compat.v1.train.Saver` in graph mode, with Google's variable
names and shapes (`bert/encoder/layer_0/attention/self/query/kernel` [H, H], ...).
"""

import json
import os
import string

import numpy as np
import tensorflow as tf

TINY_BERT_CONFIG = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 16,
    "initializer_range": 0.02,
    "intermediate_size": 32,
    "max_position_embeddings": 32,
    "num_attention_heads": 2,
    "num_hidden_layers": 2,
    "type_vocab_size": 2,
}


def google_vocabulary(cased: bool = False) -> list[str]:
    """Google's layout in small: `[PAD]`, three `[unused]`, `[UNK] [CLS] [SEP] [MASK]`, then
    letters, their `##` continuations, digits and punctuation (any ASCII word tokenizes)."""
    letters = string.ascii_lowercase + (string.ascii_uppercase if cased else "")
    return (
        ["[PAD]", "[unused0]", "[unused1]", "[unused2]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        + list(letters)
        + [f"##{c}" for c in letters]
        + list(string.digits)
        + [f"##{d}" for d in string.digits]
        + list(".,:;-_()'/+")
    )


def random_arrays(config: dict, seed: int = 0, heads: bool = True) -> dict:
    """Every variable of a BERT checkpoint with `config`'s sizes, by Google's name, random
    (LayerNorm scales and biases too, so nothing checks out by being 1 or 0)."""
    rng = np.random.default_rng(seed)
    hidden, inner = config["hidden_size"], config["intermediate_size"]
    shapes = {
        "bert/embeddings/word_embeddings": (config["vocab_size"], hidden),
        "bert/embeddings/token_type_embeddings": (config["type_vocab_size"], hidden),
        "bert/embeddings/position_embeddings": (config["max_position_embeddings"], hidden),
        "bert/embeddings/LayerNorm/gamma": (hidden,),
        "bert/embeddings/LayerNorm/beta": (hidden,),
        "bert/pooler/dense/kernel": (hidden, hidden),
        "bert/pooler/dense/bias": (hidden,),
    }
    for i in range(config["num_hidden_layers"]):
        layer = f"bert/encoder/layer_{i}/"
        for part in ("attention/self/query", "attention/self/key", "attention/self/value"):
            shapes[f"{layer}{part}/kernel"] = (hidden, hidden)
            shapes[f"{layer}{part}/bias"] = (hidden,)
        shapes.update(
            {
                f"{layer}attention/output/dense/kernel": (hidden, hidden),
                f"{layer}attention/output/dense/bias": (hidden,),
                f"{layer}attention/output/LayerNorm/gamma": (hidden,),
                f"{layer}attention/output/LayerNorm/beta": (hidden,),
                f"{layer}intermediate/dense/kernel": (hidden, inner),
                f"{layer}intermediate/dense/bias": (inner,),
                f"{layer}output/dense/kernel": (inner, hidden),
                f"{layer}output/dense/bias": (hidden,),
                f"{layer}output/LayerNorm/gamma": (hidden,),
                f"{layer}output/LayerNorm/beta": (hidden,),
            }
        )
    if heads:
        shapes.update(
            {
                "cls/predictions/transform/dense/kernel": (hidden, hidden),
                "cls/predictions/transform/dense/bias": (hidden,),
                "cls/predictions/transform/LayerNorm/gamma": (hidden,),
                "cls/predictions/transform/LayerNorm/beta": (hidden,),
                "cls/predictions/output_bias": (config["vocab_size"],),
                "cls/seq_relationship/output_weights": (2, hidden),
                "cls/seq_relationship/output_bias": (2,),
            }
        )
    arrays = {}
    for name, shape in shapes.items():
        center = 1.0 if name.endswith("gamma") else 0.0
        arrays[name] = (center + 0.3 * rng.standard_normal(shape)).astype(np.float32)
    return arrays


def write_release(directory, config: dict, vocabulary: list[str], arrays: dict) -> None:
    """Writes `bert_config.json`, `vocab.txt` and `bert_model.ckpt.*` into `directory`, the
    checkpoint through TF1's `Saver` in graph mode, with a `global_step` and Adam slots as
    Google's training leaves them."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "bert_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(token + "\n" for token in vocabulary))
    graph = tf.Graph()
    with graph.as_default():
        for name, array in arrays.items():
            tf.compat.v1.get_variable(name, initializer=array)
        slot = "bert/pooler/dense/bias"
        if slot in arrays:
            for moment in ("adam_m", "adam_v"):
                tf.compat.v1.get_variable(f"{slot}/{moment}", initializer=arrays[slot] * 0)
        tf.compat.v1.train.get_or_create_global_step()
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, os.path.join(directory, "bert_model.ckpt"), write_meta_graph=False)


def tiny_release(directory, cased=False, heads=True, seed=0, **config_changes):
    """Writes a tiny release (`TINY_BERT_CONFIG` with `config_changes`, `google_vocabulary`,
    random weights) into `directory`.

    Returns:
        (config dict, vocabulary list, arrays dict by Google's name).
    """
    vocabulary = google_vocabulary(cased)
    config = dict(TINY_BERT_CONFIG, vocab_size=len(vocabulary), **config_changes)
    arrays = random_arrays(config, seed, heads)
    write_release(str(directory), config, vocabulary, arrays)
    return config, vocabulary, arrays


def _layer_norm(x, gamma, beta):
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + 1e-12) * gamma + beta


def _gelu(x):
    """`modeling.gelu`: the tanh approximation."""
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def reference_forward(arrays, config, token_ids, segment_ids, padding_mask):
    """BERT's encoder as google-research/bert's `modeling.BertModel` computes it (inference).

    Args:
        arrays: dict. The checkpoint's variables by name.
        config: dict. Its `bert_config.json`.
        token_ids, segment_ids, padding_mask: np.ndarray int [B, S].

    Returns:
        (sequence_output float64 [B, S, H], pooled_output float64 [B, H]).
    """
    a = {name: value.astype(np.float64) for name, value in arrays.items()}
    heads = config["num_attention_heads"]
    batch, length = token_ids.shape
    size = config["hidden_size"] // heads
    x = (
        a["bert/embeddings/word_embeddings"][token_ids]
        + a["bert/embeddings/token_type_embeddings"][segment_ids]
        + a["bert/embeddings/position_embeddings"][:length][None]
    )
    x = _layer_norm(x, a["bert/embeddings/LayerNorm/gamma"], a["bert/embeddings/LayerNorm/beta"])
    adder = (1.0 - padding_mask[:, None, None, :]) * -10000.0  # [B, 1, 1, S]
    for i in range(config["num_hidden_layers"]):
        p = f"bert/encoder/layer_{i}/"

        def project(name, inputs):
            return inputs @ a[f"{p}{name}/kernel"] + a[f"{p}{name}/bias"]

        def split(t):  # [B, S, H] -> [B, heads, S, size]
            return t.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

        q, k, v = (split(project(f"attention/self/{n}", x)) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + adder
        probabilities = np.exp(scores - scores.max(-1, keepdims=True))
        probabilities /= probabilities.sum(-1, keepdims=True)
        context = (probabilities @ v).transpose(0, 2, 1, 3).reshape(batch, length, -1)
        attended = project("attention/output/dense", context)
        x = _layer_norm(
            attended + x,
            a[f"{p}attention/output/LayerNorm/gamma"],
            a[f"{p}attention/output/LayerNorm/beta"],
        )
        feed_forward = project("output/dense", _gelu(project("intermediate/dense", x)))
        x = _layer_norm(
            feed_forward + x, a[f"{p}output/LayerNorm/gamma"], a[f"{p}output/LayerNorm/beta"]
        )
    pooled = np.tanh(x[:, 0] @ a["bert/pooler/dense/kernel"] + a["bert/pooler/dense/bias"])
    return x, pooled
