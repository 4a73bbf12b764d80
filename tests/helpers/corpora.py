"""Small corpora the tests write to disk."""

import numpy as np

# Three documents, one sentence a line, a blank line between documents (BERT's layout).
TINY_CORPUS = """\
The cat sat on the mat.
The dog sat on the log.
A cat and a dog met on the mat.

Birds fly over the sea.
The sea is blue and the sky is blue.
Birds sing in the morning.
The morning sun is warm.

A small boat sails on the sea.
The boat is red.
"""


def grammar_corpus(documents: int = 40, seed: int = 0) -> str:
    """`documents` documents of 3-6 short sentences from a small grammar, blank-line
    separated: a masked LM learns it in a few dozen steps."""
    rng = np.random.default_rng(seed)
    subjects = ["the cat", "the dog", "a bird", "my friend", "the old man", "a small boat"]
    verbs = ["sat on", "looked at", "ran to", "sailed past", "slept near"]
    objects = ["the mat", "the sea", "a red house", "the green hill", "the river"]
    return (
        "\n\n".join(
            "\n".join(
                f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)} ."
                for _ in range(rng.integers(3, 7))
            )
            for _ in range(documents)
        )
        + "\n"
    )
