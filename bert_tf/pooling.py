"""Pooling over the real (non-padding) positions of a sequence, for backbones and heads."""

from keras import ops


def masked_mean(sequence, padding_mask):
    """Mean of the vectors at real positions: [B, S, H], [B, S] -> [B, H]."""
    mask = ops.cast(padding_mask, sequence.dtype)[:, :, None]
    return ops.sum(sequence * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)


def masked_max(sequence, padding_mask):
    """Max over the real positions: [B, S, H], [B, S] -> [B, H]."""
    real = ops.cast(padding_mask, "bool")[:, :, None]
    return ops.max(ops.where(real, sequence, ops.full_like(sequence, -1e9)), axis=1)
