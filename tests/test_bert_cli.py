"""Tests for bert_cli: flags defined from the run configs and the plugin registries."""

import dataclasses
import os
import subprocess
import sys
import textwrap

import pytest
from absl import flags

import backbones
import bert_cli
from bert_tf.errors import InputError
from bert_tf.finetuning import FinetuneConfig
from bert_tf.plugin_settings import PluginSetting
from bert_tf.pretraining import PretrainConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A backbone with a constructor argument no registered backbone has: `wobble_factor`.
TOY_BACKBONE = textwrap.dedent('''
    import keras

    from backbones.base import Backbone, backbone_inputs


    class ToyBackbone(Backbone):
        """Embeddings only.

        Args:
            vocabulary_size: int. Token ids.
            hidden_dim: int. Width H.
            wobble_factor: int. How much the toy wobbles.
            max_sequence_length: int. Learned positions.
        """

        PRESETS = {size: dict(hidden_dim=8) for size in ("tiny", "mini", "small", "base")}

        def __init__(self, vocabulary_size, hidden_dim=8, wobble_factor=3,
                     max_sequence_length=512, **kwargs):
            config = dict(vocabulary_size=vocabulary_size, hidden_dim=hidden_dim,
                          wobble_factor=wobble_factor, max_sequence_length=max_sequence_length)
            inputs = backbone_inputs()
            embedding = keras.layers.Embedding(vocabulary_size, hidden_dim, name="token_embedding")
            x = embedding(inputs["token_ids"])
            pooled = keras.layers.Lambda(lambda s: s[:, 0, :])(x)
            super().__init__(inputs, {"sequence_output": x, "pooled_output": pooled},
                             embedding, config, **kwargs)
    ''')


def script_flags(config_class, with_tasks, argv=("prog",)):
    """A fresh FlagValues holding what a script defines, parsed from `argv`."""
    flag_values = flags.FlagValues()
    bert_cli.define_config_flags(config_class, flag_values)
    bert_cli.define_backbone_flags(config_class, flag_values)
    if with_tasks:
        bert_cli.define_task_flags(flag_values)
    bert_cli.define_verbose_flag(flag_values)
    flag_values(list(argv))
    return flag_values


@pytest.mark.parametrize(
    "config_class, with_tasks", [(PretrainConfig, True), (FinetuneConfig, False)]
)
def test_flag_defaults_are_the_config_defaults(config_class, with_tasks):
    flag_values = script_flags(config_class, with_tasks)
    assert bert_cli.config_from_flags(config_class, flag_values) == config_class()


def test_given_flags_fill_the_config_and_the_plugin_dicts():
    flag_values = script_flags(
        PretrainConfig,
        True,
        [
            "prog",
            "--tasks=masked_lm",
            "--mask_rate=0.3",
            "--hidden_size=64",
            "--kernel_sizes=3,5",
            "--task_loss_weights=masked_lm=2",
            "--epochs=1.5",
        ],
    )
    config = bert_cli.config_from_flags(PretrainConfig, flag_values)
    assert config.tasks == ("masked_lm",)
    assert config.task_settings == {"mask_rate": 0.3}
    assert config.backbone_overrides == {"hidden_dim": 64, "kernel_sizes": [3, 5]}
    assert config.task_loss_weights == {"masked_lm": 2.0}
    assert config.epochs == 1.5 and config.backbone is None


def test_the_dropout_flag_names_each_stages_default():
    pretrain_help = script_flags(PretrainConfig, True)["dropout"].help
    finetune_help = script_flags(FinetuneConfig, False)["dropout"].help
    assert pretrain_help.endswith("Unset: 0.0.") and finetune_help.endswith("Unset: 0.1.")
    assert "preset" in script_flags(FinetuneConfig, False)["hidden_dim"].help


def test_a_non_integer_list_item_is_an_input_error():
    flag_values = script_flags(FinetuneConfig, False, ["prog", "--kernel_sizes=3,five"])
    with pytest.raises(InputError, match="--kernel_sizes=3,five"):
        bert_cli.config_from_flags(FinetuneConfig, flag_values)


def test_a_plugin_setting_named_like_a_run_setting_is_refused(monkeypatch):
    clash = PluginSetting("batch_size", 3, ("toy",), ("Clashes.",))
    monkeypatch.setattr(backbones, "settings", lambda: {"batch_size": clash})
    flag_values = flags.FlagValues()
    bert_cli.define_config_flags(FinetuneConfig, flag_values)
    with pytest.raises(ValueError, match="--batch_size of toy clashes"):
        bert_cli.define_backbone_flags(FinetuneConfig, flag_values)


def test_a_registered_backbones_new_argument_becomes_a_flag(tmp_path, monkeypatch):
    (tmp_path / "toy_backbone.py").write_text(TOY_BACKBONE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import toy_backbone

    monkeypatch.setitem(backbones.BACKBONES, "toy", toy_backbone.ToyBackbone)
    flag_values = script_flags(
        FinetuneConfig, False, ["prog", "--backbone=toy", "--wobble_factor=5"]
    )
    assert "toy: How much the toy wobbles." in flag_values["wobble_factor"].help
    config = bert_cli.config_from_flags(FinetuneConfig, flag_values)
    assert config.backbone == "toy" and config.backbone_overrides == {"wobble_factor": 5}
    assert (
        backbones.backbone_config("toy", 10, "tiny", **config.backbone_overrides)["wobble_factor"]
        == 5
    )


@pytest.mark.parametrize("script", ["train_bert_lm.py", "train_bert_fine_tuning.py"])
def test_the_scripts_offer_a_registered_backbones_new_flag(tmp_path, script):
    """The real script, run with one more backbone registered, lists its flag in --help."""
    (tmp_path / "toy_backbone.py").write_text(TOY_BACKBONE, encoding="utf-8")
    program = textwrap.dedent(f"""
        import runpy, sys
        sys.path[:0] = [{str(tmp_path)!r}, {REPO!r}]
        import backbones, toy_backbone
        backbones.BACKBONES["toy"] = toy_backbone.ToyBackbone
        sys.argv = [{script!r}, "--help"]
        runpy.run_path({os.path.join(REPO, script)!r}, run_name="__main__")
        """)
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert "Traceback" not in result.stderr, result.stderr[-2000:]  # absl's --help exits 1
    assert "--wobble_factor: toy: How much the toy wobbles." in result.stdout
    assert "<textcnn|toy|transformer>" in result.stdout


def test_run_config_fields_with_help_are_all_flags():
    flag_values = script_flags(PretrainConfig, True)
    for field in dataclasses.fields(PretrainConfig):
        if field.metadata.get("plugins"):
            continue
        assert field.name in flag_values, field.name
