"""The fine-tuning lever screen: its levers are real flags, and its summary and table."""

import dataclasses

import pytest

from benchmarks import finetune_levers
from bert_tf.finetuning import FinetuneConfig


def test_every_lever_sets_fields_the_fine_tuning_script_has():
    fields = {f.name for f in dataclasses.fields(FinetuneConfig)}
    for lever, flags in finetune_levers.LEVERS.items():
        for flag in flags:
            name = flag.removeprefix("--").split("=")[0]
            assert name in fields, f"lever {lever}: --{name} is not a fine-tuning flag"


def _row(seed, micro, macro):
    return dict(
        lever="focal",
        arm="pretrained",
        seed=seed,
        valid_micro_f1=micro,
        valid_macro_f1=macro,
        test_micro_f1=micro - 0.1,
        test_macro_f1=macro - 0.01,
    )


def test_summary_is_mean_and_std_over_seeds_and_the_table_shows_it():
    summary = finetune_levers.summarize([_row(0, 0.5, 0.1), _row(1, 0.6, 0.2)])
    assert summary["seeds"] == 2
    assert summary["valid_micro_f1"] == pytest.approx(0.55)
    assert summary["valid_micro_f1_std"] == pytest.approx(0.05)
    assert summary["test_macro_f1"] == pytest.approx(0.14)
    text = finetune_levers.markdown([summary], None, "cmd")
    assert "| focal | pretrained | 2 | 0.550 ± 0.050 | 0.150 ± 0.050 |" in text
    assert "- `focal`: `--loss=focal`" in text and "- `base`" not in text  # only the levers run
