"""`--clip_norm`: gradients clipped to a global norm (BERT's 1.0), or not at all with 0."""

import keras
import numpy as np
import pytest

from bert_tf.errors import InputError
from bert_tf.optimization import create_optimizer
from bert_tf.pretraining import PretrainConfig

# A large gradient, then a small one. Adam's first step does not depend on the gradient's
# scale, but its second does: clipped to norm 1, the two gradients are the same.
GRADIENTS = ([300.0, 400.0], [0.6, 0.8])


def after_two_steps(clip_norm, gradients=GRADIENTS):
    variable = keras.Variable(np.ones(2, np.float32))
    optimizer = create_optimizer(1e-2, 10, 0, weight_decay=0.0, clip_norm=clip_norm)
    for gradient in gradients:
        optimizer.apply([np.array(gradient, np.float32)], [variable])
    return variable.numpy()


def test_clipping_scales_a_large_gradient_to_the_norm():
    clipped = after_two_steps(1.0)
    np.testing.assert_allclose(clipped, after_two_steps(None, ([0.6, 0.8], [0.6, 0.8])), rtol=1e-6)
    assert not np.allclose(clipped, after_two_steps(0.0))


def test_zero_turns_clipping_off_and_one_is_the_default():
    assert create_optimizer(1e-3, 10, 1, clip_norm=0.0).global_clipnorm is None
    assert create_optimizer(1e-3, 10, 1).global_clipnorm == 1.0


def test_a_negative_norm_is_named():
    with pytest.raises(InputError, match="--clip_norm=-1.0: expected"):
        PretrainConfig(clip_norm=-1.0).validate()
