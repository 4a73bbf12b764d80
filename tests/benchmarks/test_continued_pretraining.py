"""The continued-pretraining benchmark's own logic: Google's vocabulary layout and the report."""

from benchmarks.continued_pretraining import google_layout, markdown_report
from bert_tf.tokenization import SPECIAL_TOKENS, SpecialTokenIds


def test_google_layout_moves_the_special_tokens_behind_unused_ones():
    vocabulary = google_layout(list(SPECIAL_TOKENS) + ["the", "##s"])
    assert SpecialTokenIds.find(vocabulary) == SpecialTokenIds(
        pad=0, unk=100, cls=101, sep=102, mask=103
    )
    assert vocabulary[1] == "[unused0]" and vocabulary[99] == "[unused98]"
    assert vocabulary[104:] == ["the", "##s"]


def finetune_row(arm, seed, test, valid):
    return dict(
        arm=arm, seed=seed, test_micro_f1=test, valid_micro_f1=valid, learning_rate=1e-3, epochs=10
    )


def test_report_has_both_arms_cpu_minutes_and_mean_std_per_bundle():
    masked_lm = dict(start_loss=9.0, end_loss=5.0, start_accuracy=0.0, end_accuracy=0.3)
    results = {
        "command": "python -m benchmarks.continued_pretraining --data_dir=D",
        "preset": dict(
            vocabulary_size=1200,
            steps=3000,
            general_corpus="data/corpus.txt",
            cpu_seconds=600.0,
            end_loss=2.5,
            end_accuracy=0.55,
        ),
        "domain_pretraining": {
            arm: dict(steps=6000, cpu_seconds=1800.0, wall_seconds=1900.0, masked_lm=masked_lm)
            for arm in ("continued", "scratch")
        },
        "finetuning": [
            finetune_row("imported", 0, 0.40, 0.42),
            finetune_row("continued", 0, 0.50, 0.52),
            finetune_row("continued", 1, 0.52, 0.54),
            finetune_row("scratch", 0, 0.45, 0.47),
        ],
    }
    report = markdown_report(results)
    assert "trained 3000 steps on `data/corpus.txt` (10.0 CPU minutes" in report
    assert "| continued | 6000 | 30.0 | 31.7 | 9.000 → 5.000 | 0.000 → 0.300 |" in report
    assert "| continued | 0.001 | 10 | 2 | 0.5100 ± 0.0100 | 0.5300 | 0.5000, 0.5200 |" in report
    assert "| imported | 0.001 | 10 | 1 | 0.4000 ± 0.0000 |" in report
    assert "| scratch |" in report
