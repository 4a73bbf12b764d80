"""Pretraining's `--tasks` and `--learning_rate`, when not given, are the backbone's
`DEFAULT_PRETRAIN_TASKS` and `DEFAULT_PRETRAIN_LEARNING_RATE`."""

import finetuning_support as support
import pytest

import backbones
import pretrain_tasks
from bert_tf.pretraining import PretrainConfig, with_backbone_defaults


@pytest.mark.parametrize("name", sorted(backbones.BACKBONES))
def test_every_backbones_default_tasks_are_a_valid_choice(name):
    tasks = backbones.get(name).DEFAULT_PRETRAIN_TASKS
    pretrain_tasks.check_choice(tasks, {}, {})


def test_unset_tasks_take_the_chosen_backbones_defaults_and_given_ones_stay():
    assert with_backbone_defaults(PretrainConfig()).tasks == ("masked_lm",)  # the transformer
    textcnn = with_backbone_defaults(PretrainConfig(backbone="textcnn"))
    assert textcnn.tasks == ("masked_lm", "next_sentence")
    given = PretrainConfig(backbone="textcnn", tasks=("replaced_token_detection",))
    assert with_backbone_defaults(given).tasks == given.tasks


def test_with_a_bundle_the_bundles_backbone_decides(tmp_path):
    bundle_dir = support.make_untrained_bundle(tmp_path / "textcnn", "textcnn")
    config = with_backbone_defaults(PretrainConfig(init_checkpoint=bundle_dir))
    assert config.tasks == backbones.get("textcnn").DEFAULT_PRETRAIN_TASKS


def test_an_unset_learning_rate_takes_the_backbones_and_a_given_one_stays():
    assert with_backbone_defaults(PretrainConfig()).learning_rate == 2e-3  # the transformer
    assert with_backbone_defaults(PretrainConfig(backbone="textcnn")).learning_rate == 1e-3
    given = PretrainConfig(learning_rate=5e-4, tasks=("masked_lm",))
    assert with_backbone_defaults(given) is given
    tasks_given = with_backbone_defaults(PretrainConfig(tasks=("next_sentence",)))
    assert (tasks_given.tasks, tasks_given.learning_rate) == (("next_sentence",), 2e-3)
