"""Keeping the lower part of a pretrained backbone fixed while fine-tuning (`--freeze`).

Fine-tuning only the top of a pretrained model is a common small-data recipe. Frozen layers are
marked non-trainable before the optimizer is built, so they get no gradient, no update (weight
decay included) and no optimizer slots.

    embeddings      the input embeddings (token, segment, position, their LayerNorm)
    bottom:N        the embeddings and the N lowest blocks (1 <= N <= the backbone's blocks)
    all_but_head    the whole backbone: only the classifier head trains
"""

import dataclasses
import math

from bert_tf.errors import InputError

FREEZE_CHOICES = ("embeddings", "bottom:N", "all_but_head")


@dataclasses.dataclass(frozen=True)
class FreezeSummary:
    """What `freeze_backbone` left trainable and what it froze.

    Attributes:
        frozen_weights: int. Weight variables kept fixed.
        frozen_parameters: int. Scalars in them.
        trainable_parameters: int. Scalars the optimizer updates (the whole model's).
    """

    frozen_weights: int
    frozen_parameters: int
    trainable_parameters: int


def check_freeze(freeze: str) -> None:
    """Raises InputError unless `freeze` is empty or one of `FREEZE_CHOICES` (N a positive
    integer). Whether N fits the backbone is checked when freezing it."""
    if freeze in ("", "embeddings", "all_but_head"):
        return
    _bottom_count(freeze)


def frozen_layers(backbone, freeze: str) -> list:
    """The backbone's layers that `freeze` keeps fixed, bottom up.

    Args:
        backbone: keras.Model. Honours the backbone contract (`embeddings`, `blocks`).
        freeze: str. "", or one of `FREEZE_CHOICES`.

    Raises:
        InputError: an unknown value, or N outside 1..the number of blocks.
    """
    check_freeze(freeze)
    if not freeze:
        return []
    if freeze == "all_but_head":
        return [backbone]
    if getattr(backbone, "embeddings", None) is None:
        raise InputError(
            f"--freeze={freeze}: the backbone does not declare its embeddings and blocks "
            "(backbones.base.Backbone's `embeddings` and `blocks`); only all_but_head works"
        )
    if freeze == "embeddings":
        return [backbone.embeddings]
    count = _bottom_count(freeze)
    if count > len(backbone.blocks):
        raise InputError(
            f"--freeze={freeze}: the backbone has {len(backbone.blocks)} blocks; expected "
            f"bottom:N with N from 1 to {len(backbone.blocks)}"
        )
    return [backbone.embeddings, *backbone.blocks[:count]]


def freeze_backbone(model, backbone, freeze: str) -> FreezeSummary:
    """Marks the layers `freeze` names non-trainable; call it before building the optimizer.

    Args:
        model: keras.Model. The classifier holding `backbone`, for the trainable count.
        backbone: keras.Model. Its layers are frozen.
        freeze: str. "", or one of `FREEZE_CHOICES`.

    Raises:
        InputError: see `frozen_layers`.
    """
    layers = frozen_layers(backbone, freeze)
    for layer in layers:
        layer.trainable = False
    frozen = {id(w): w for layer in layers for w in layer.weights}
    return FreezeSummary(
        frozen_weights=len(frozen),
        frozen_parameters=sum(math.prod(w.shape) for w in frozen.values()),
        trainable_parameters=sum(math.prod(w.shape) for w in model.trainable_weights),
    )


def _bottom_count(freeze: str) -> int:
    prefix, _, count = freeze.partition(":")
    if prefix != "bottom" or not count.isdigit() or int(count) < 1:
        raise InputError(
            f"--freeze={freeze}: expected one of {', '.join(FREEZE_CHOICES)} (N a positive "
            "integer), or empty for none"
        )
    return int(count)
