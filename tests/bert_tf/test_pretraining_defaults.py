"""Pretraining's `--tasks`, when not given, are the backbone's `DEFAULT_PRETRAIN_TASKS`."""

import finetuning_support as support
import pytest

import backbones
import pretrain_tasks
from bert_tf.pretraining import PretrainConfig, with_backbone_tasks


@pytest.mark.parametrize("name", sorted(backbones.BACKBONES))
def test_every_backbones_default_tasks_are_a_valid_choice(name):
    tasks = backbones.get(name).DEFAULT_PRETRAIN_TASKS
    pretrain_tasks.check_choice(tasks, {}, {})


def test_unset_tasks_take_the_chosen_backbones_defaults_and_given_ones_stay():
    assert with_backbone_tasks(PretrainConfig()).tasks == ("masked_lm",)  # the transformer
    textcnn = with_backbone_tasks(PretrainConfig(backbone="textcnn"))
    assert textcnn.tasks == ("masked_lm", "next_sentence")
    given = PretrainConfig(backbone="textcnn", tasks=("replaced_token_detection",))
    assert with_backbone_tasks(given) is given


def test_with_a_bundle_the_bundles_backbone_decides(tmp_path):
    bundle_dir = support.make_untrained_bundle(tmp_path / "textcnn", "textcnn")
    config = with_backbone_tasks(PretrainConfig(init_checkpoint=bundle_dir))
    assert config.tasks == backbones.get("textcnn").DEFAULT_PRETRAIN_TASKS
