"""Layer-wise learning-rate decay in fine-tuning (`--layer_decay`).

The lower a pretrained layer, the more general what it learned and the less fine-tuning
should move it (Howard & Ruder, 2018; ELECTRA fine-tunes with decay 0.8). With L blocks and
decay d, block i (0 the lowest) trains at the peak rate times d^(L - i), the embeddings at
d^(L + 1), and the head, with any backbone weight above the blocks (a final LayerNorm), at the
peak rate itself.
"""

from bert_tf.errors import InputError


def check_layer_decay(decay: float) -> None:
    """Raises InputError unless 0 < `decay` <= 1."""
    if not 0 < decay <= 1:
        raise InputError(f"--layer_decay={decay}: expected a number above 0 and at most 1")


def learning_rate_multipliers(backbone, decay: float) -> dict:
    """Each backbone weight's share of the peak learning rate, by the weight's `path`.

    Weights not in the dict (the head's, and backbone weights outside its embeddings and
    blocks) train at the peak rate. With `decay` 1 the dict is empty.

    Args:
        backbone: keras.Model. Honours the backbone contract (`embeddings`, `blocks`).
        decay: float. In (0, 1].

    Raises:
        InputError: `decay` out of range, or a backbone that does not declare its layers.
    """
    check_layer_decay(decay)
    if decay == 1:
        return {}
    if getattr(backbone, "embeddings", None) is None or not backbone.blocks:
        raise InputError(
            f"--layer_decay={decay}: the backbone does not declare its embeddings and blocks "
            "(backbones.base.Backbone's `embeddings` and `blocks`)"
        )
    depth = len(backbone.blocks)
    layers = [backbone.embeddings, *backbone.blocks]
    return {
        weight.path: decay ** (depth + 1 - level)
        for level, layer in enumerate(layers)
        for weight in layer.weights
    }
