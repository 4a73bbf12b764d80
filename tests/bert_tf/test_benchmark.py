"""The benchmark's report: mean ± std over seeds, the gain, and the learning-curve plot."""

import pytest

from bert_tf.benchmark import markdown_report, plot_curves


def record(backbone, arm, seed, test_micro_f1, curve, chosen=True, lr=1e-3, **extra):
    return dict(
        extra,
        backbone=backbone,
        train_file="train_small.txt",
        arm=arm,
        seed=seed,
        learning_rate=lr,
        chosen=chosen,
        test_micro_f1=test_micro_f1,
        test_macro_f1=0.1,
        test_mean_f1=0.3,
        valid_micro_f1=curve[-1] if curve else 0.0,
        valid_curve=curve,
        first_step_loss=0.7,
        valid_loss_epoch1=0.05,
        wall_seconds=60.0,
        best_epoch=len(curve) or None,
    )


def test_report_gives_mean_std_and_gain():
    records = [
        record("transformer", "pretrained", 0, 0.50, [0.3, 0.4]),
        record("transformer", "pretrained", 1, 0.52, [0.3, 0.45]),
        record("transformer", "scratch", 0, 0.40, [0.2, 0.3]),
        record("transformer", "scratch", 1, 0.44, [0.2, 0.35]),
        record("transformer", "scratch", 0, 0.10, [0.1, 0.1], chosen=False, lr=3e-3),
        record("none", "tfidf_lr", 0, 0.45, [], lr=None, c=10.0),
    ]
    report = markdown_report(records, "quick")
    assert "0.5100 ± 0.0100" in report  # pretrained test micro-F1 over two seeds
    assert "0.4200 ± 0.0200" in report  # the unchosen 3e-3 run is left out
    assert "gains +9.0 points" in report
    assert "twice the larger std: 4.0 points; target of at least 5.0 points" in report
    assert "more than twice the std met" in report
    assert "| none | tfidf_lr | C=10 |" in report
    assert "pretrained vs. TF-IDF + logistic regression: 0.5100 vs. 0.4500" in report


def test_report_says_when_the_gain_target_is_missed():
    records = [
        record("textcnn", "pretrained", 0, 0.46, [0.3]),
        record("textcnn", "pretrained", 1, 0.54, [0.3]),
        record("textcnn", "scratch", 0, 0.44, [0.3]),
        record("textcnn", "scratch", 1, 0.46, [0.3]),
    ]
    report = markdown_report(records, "quick")
    assert "gains +5.0 points" in report
    assert "twice the larger std: 8.0 points" in report
    assert "not met" in report


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curves.png"
    plot_curves([record("textcnn", "pretrained", 0, 0.5, [0.3, 0.4, 0.5])], str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
