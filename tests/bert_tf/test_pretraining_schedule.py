"""How long pretraining warms up: `--warmup_steps`, else `--warmup_proportion` of the steps."""

import pytest

from bert_tf import pretraining
from bert_tf.errors import InputError
from bert_tf.optimization import WarmupLinearDecay
from bert_tf.pretraining import PretrainConfig


@pytest.mark.parametrize(
    "changes, warmup",
    [({}, 100), (dict(warmup_proportion=0.5), 500), (dict(warmup_steps=7), 7)],
)
def test_warmup_is_a_share_of_the_steps_unless_given_in_steps(changes, warmup):
    schedule = pretraining._schedule(PretrainConfig(num_train_steps=1000, **changes), 320)
    assert (schedule.num_steps, schedule.steps_per_epoch, schedule.warmup_steps) == (
        1000,
        10,
        warmup,
    )


def test_half_the_steps_warming_up_makes_a_triangle_peaking_halfway():
    rate = WarmupLinearDecay(2e-3, 1000, 500)
    rates = [float(rate(step)) for step in (0, 250, 500, 750, 1000)]
    assert rates == pytest.approx([0.0, 1e-3, 2e-3, 1e-3, 0.0])


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_warmup_share_outside_0_to_1_is_named(share):
    with pytest.raises(InputError, match=f"--warmup_proportion={share}: expected a share"):
        PretrainConfig(warmup_proportion=share).validate()
