"""The benchmark's report: mean ± std over seeds, the gain, and the learning-curve plot."""

import pytest

from bert_tf.benchmark import markdown_report, plot_curves


def record(backbone, arm, seed, test_micro_f1, curve, chosen=True, lr=1e-3):
    return dict(
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
    )


def test_report_gives_mean_std_and_gain():
    records = [
        record("transformer", "pretrained", 0, 0.50, [0.3, 0.4]),
        record("transformer", "pretrained", 1, 0.52, [0.3, 0.45]),
        record("transformer", "scratch", 0, 0.40, [0.2, 0.3]),
        record("transformer", "scratch", 1, 0.44, [0.2, 0.35]),
        record("transformer", "scratch", 0, 0.10, [0.1, 0.1], chosen=False, lr=3e-3),
        record("none", "tfidf_lr", 0, 0.45, []),
    ]
    report = markdown_report(records, "quick")
    assert "0.5100 ± 0.0100" in report  # pretrained test micro-F1 over two seeds
    assert "0.4200 ± 0.0200" in report  # the unchosen 3e-3 run is left out
    assert "gains +9.0 points" in report
    assert "twice the larger std: 4.0 points" in report
    assert "tfidf_lr" in report


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curves.png"
    plot_curves([record("textcnn", "pretrained", 0, 0.5, [0.3, 0.4, 0.5])], str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
