"""`--gradient_accumulation_steps`: k batches' gradients averaged into one AdamW update."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.errors import InputError
from bert_tf.optimization import create_optimizer
from bert_tf.pretraining import PretrainConfig

# Two batches whose gradients cancel on the middle weight: averaged, it gets no step at all,
# while Adam's first step on either batch alone moves every weight by about the rate.
FIRST, SECOND = [1.0, -2.0, 3.0], [3.0, 2.0, -1.0]


def weights():
    return [keras.Variable(np.ones(3, np.float32))]


@pytest.mark.parametrize("in_graph", [False, True])
def test_two_accumulated_batches_make_the_update_of_their_average(in_graph):
    # A schedule this long is flat over two steps: the rate is the same at batch 1 and 2.
    accumulating, accumulated = weights(), create_optimizer(0.1, 10**9, 0, 0.0, None, 2)
    plain, reference = weights(), create_optimizer(0.1, 10**9, 0, 0.0)
    accumulated.build(accumulating)
    reference.build(plain)

    def apply(optimizer, variables, gradient):
        def step():
            optimizer.apply_gradients(zip([tf.constant(gradient)], variables))

        (tf.function(step) if in_graph else step)()

    apply(accumulated, accumulating, FIRST)
    np.testing.assert_array_equal(accumulating[0].numpy(), np.ones(3))  # nothing yet
    apply(accumulated, accumulating, SECOND)
    apply(reference, plain, np.mean([FIRST, SECOND], axis=0).astype(np.float32))
    np.testing.assert_allclose(accumulating[0].numpy(), plain[0].numpy(), rtol=1e-6)
    assert accumulating[0].numpy()[1] == 1.0 and accumulating[0].numpy()[0] < 0.95
    assert int(accumulated.iterations) == 1  # updates, as Adam's bias correction counts them


def test_without_accumulation_the_optimizer_has_none():
    assert create_optimizer(1e-3, 10, 1).gradient_accumulation_steps is None


@pytest.mark.parametrize("steps", [0, -2])
def test_accumulation_below_one_batch_is_named(steps):
    with pytest.raises(InputError, match=f"--gradient_accumulation_steps={steps}: expected"):
        PretrainConfig(gradient_accumulation_steps=steps).validate()
