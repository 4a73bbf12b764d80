"""The quality-per-minute benchmark's arithmetic and report, on made-up records."""

import json

import pytest
from absl import flags

import bert_cli
import pretrain_tasks
from benchmarks import quality_per_minute
from benchmarks import quality_per_minute_report as report
from bert_tf.pretraining import PretrainConfig


def _record(recipe, minutes, micro, macro, seed=0, chosen=True):
    return dict(
        recipe=recipe,
        budget_minutes=minutes,
        cpu_minutes=minutes * 1.02,
        pretrain_steps=int(minutes * 100),
        learning_rate=1e-3,
        seed=seed,
        chosen=chosen,
        valid_micro_f1=micro,
        valid_macro_f1=macro,
        test_micro_f1=micro,
        test_macro_f1=macro,
    )


RECORDS = [
    _record("scratch", 0, 0.40, 0.05),
    _record("scratch", 0, 0.42, 0.07, seed=1),
    _record("bert", 5, 0.50, 0.10),
    _record("bert", 5, 0.99, 0.99, seed=1, chosen=False),  # a sweep run not chosen: left out
    _record("bert", 10, 0.60, 0.12),
]
TFIDF = {"test_micro_f1": 0.55, "test_macro_f1": 0.20}


def test_points_average_the_chosen_runs_only():
    rows = {(r["recipe"], r["budget_minutes"]): r for r in report.points(RECORDS)}
    assert rows["scratch", 0]["test_micro_f1"] == pytest.approx(0.41)
    assert rows["scratch", 0]["seeds"] == 2
    assert rows["bert", 5]["test_micro_f1"] == pytest.approx(0.50)
    assert rows["bert", 5]["seeds"] == 1


def test_minutes_to_beat_interpolates_and_says_never():
    curve = report.curves(report.points(RECORDS))["bert"]
    assert [r["recipe"] for r in curve] == ["scratch", "bert", "bert"]
    # micro: 0.50 at 5.1 min, 0.60 at 10.2 min; 0.55 is halfway.
    assert report.minutes_to_beat(curve, "test_micro_f1", 0.55) == pytest.approx(7.65)
    assert report.minutes_to_beat(curve, "test_macro_f1", 0.20) is None


def test_steps_for_takes_the_fixed_cost_off_the_minutes():
    assert quality_per_minute.steps_for(10, rate=3.0, fixed=60) == 1620
    assert quality_per_minute.steps_for(0.5, rate=3.0, fixed=60) == 1


def test_outputs_are_written(tmp_path):
    text = report.write_outputs(
        RECORDS,
        TFIDF,
        {"bert": (3.2, 40.0)},
        quality_per_minute.RECIPES,
        "train_small.txt",
        "cmd",
        str(tmp_path / "q"),
        "20 epochs",
    )
    assert "| bert | 7.7 | not within the curve |" in text
    assert "Fine-tuning, dropout 0.1, 20 epochs" in text
    saved = json.loads((tmp_path / "q.json").read_text())
    assert len(saved["points"]) == 3 and (tmp_path / "q.png").stat().st_size > 0


def test_an_earlier_report_adds_its_curves_from_this_runs_scratch_point(tmp_path):
    """`--earlier_report`: the earlier report's pretrained runs come back under a name that
    says where from, described as the recipe plus its command; its scratch point is dropped."""
    recipes = quality_per_minute.RECIPES
    earlier = [*RECORDS[:2], _record("bert", 5, 0.30, 0.02), _record("bert", 20, 0.70, 0.30)]
    report.write_outputs(
        earlier, TFIDF, {"bert": (2.0, 9.0)}, recipes, "t", "old cmd", str(tmp_path / "old"), "e"
    )
    runs, calibrations, described = report.earlier_curves([str(tmp_path / "old.json")], recipes)
    assert {run["recipe"] for run in runs} == {"bert (old.json)"} and len(runs) == 2
    assert calibrations == {"bert (old.json)": (2.0, 9.0)}
    assert described["bert (old.json)"].description.endswith("the runs of `old cmd`")
    text = report.write_outputs(
        RECORDS + runs,
        TFIDF,
        {"bert": (3.2, 40.0), **calibrations},
        {**recipes, **described},
        "train_small.txt",
        "cmd",
        str(tmp_path / "both"),
        "e",
    )
    assert "| bert | 7.7 | not within the curve |" in text
    # Past this run's scratch point, from 0.30 / 0.02 at 5.1 minutes to 0.70 / 0.30 at 20.4.
    assert "| bert (old.json) | 14.7 | 14.9 |" in text
    with pytest.raises(ValueError, match="'electra2' is not among"):
        (tmp_path / "odd.json").write_text(json.dumps(dict(calibrations={"electra2": [1, 0]})))
        report.earlier_curves([str(tmp_path / "odd.json")], recipes)


def test_a_fine_tuning_recipe_other_than_the_first_ones_runs_in_its_own_directory(
    tmp_path, monkeypatch
):
    seen = []
    monkeypatch.setattr(
        quality_per_minute.pvs,
        "finetune",
        lambda bundle, backbone, arm, train_file, rate, seed, plan: seen.append(plan) or {},
    )
    plan = quality_per_minute.pvs.Plan(quality_per_minute.pvs.BUDGETS["quick"], "d", "w")
    for recipe in ("epochs10", "epochs20_mean_f1"):
        quality_per_minute.finetune_records(
            "b", "pretrained", "train_small.txt", str(tmp_path), plan, 5, (0,), recipe, 1e-3
        )
    old, new = seen
    assert old.work_dir == str(tmp_path) and new.work_dir == str(tmp_path / "epochs20_mean_f1")
    assert old.budget.epochs == {"train_small.txt": 10}
    assert old.budget.select_epoch_on == "micro_f1"
    assert new.budget.epochs == {"train_small.txt": 20}
    assert new.budget.select_epoch_on == "mean_f1" and new.budget.finetune_dropout == 0.1


@pytest.mark.parametrize("name", sorted(quality_per_minute.RECIPES))
def test_every_recipe_is_a_valid_pretraining_command_line(name):
    flag_values = flags.FlagValues()
    bert_cli.define_config_flags(PretrainConfig, flag_values)
    bert_cli.define_backbone_flags(PretrainConfig, flag_values)
    bert_cli.define_task_flags(flag_values)
    flag_values(["prog", *quality_per_minute.RECIPES[name].flags])
    config = bert_cli.config_from_flags(PretrainConfig, flag_values)
    pretrain_tasks.check_choice(config.tasks, config.task_loss_weights, config.task_settings)
    if name == "electra":
        assert config.tasks == ("replaced_token_detection",)
        assert config.backbone_overrides == {"dropout": 0.0}


def test_a_recipe_with_a_vocabulary_size_learns_its_own_once(tmp_path, monkeypatch):
    """A `vocab_size` recipe pretrains with a vocabulary of that size learned from the corpus
    (and reused by the next run); the others keep the shared file."""
    corpus = tmp_path / "pretrain.txt"
    corpus.write_text(
        "\n".join(f"word{i} and token{i % 37} make sentence {i}." for i in range(400)) + "\n",
        encoding="utf-8",
    )
    monkeypatch.setitem(
        quality_per_minute.RECIPES,
        "small_vocab",
        quality_per_minute.Recipe("a vocabulary of 120", ("--tasks=masked_lm",), vocab_size=120),
    )
    plan = quality_per_minute.pvs.Plan(
        quality_per_minute.pvs.BUDGETS["quick"], str(tmp_path), str(tmp_path / "work")
    )
    files = quality_per_minute.recipe_vocabularies(["mlm", "small_vocab"], plan, "shared.txt")
    assert files["mlm"] == "shared.txt"
    learned = files["small_vocab"]
    assert learned == str(tmp_path / "work" / "vocab_120.txt")
    tokens = open(learned, encoding="utf-8").read().split()
    assert 60 <= len(tokens) <= 120 and "[MASK]" in tokens
    monkeypatch.setattr(
        quality_per_minute.pvs, "learn_corpus_vocabulary", lambda config: pytest.fail("relearned")
    )
    again = quality_per_minute.recipe_vocabularies(["small_vocab"], plan, "shared.txt")
    assert again == {"small_vocab": learned}
