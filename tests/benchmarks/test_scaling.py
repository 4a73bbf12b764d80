"""Tests for benchmarks.scaling: the scaled corpora and the report (the measured runs start
training processes; the benchmark's --smoke run checks those)."""

import json
import os

import pytest

from benchmarks import scaling


def test_a_scaled_corpus_repeats_every_document_in_shuffled_orders(tmp_path):
    source = tmp_path / "corpus.txt"
    documents = [f"doc {k} line one\ndoc {k} line two" for k in range(20)]
    source.write_text("\n\n".join(documents) + "\n", encoding="utf-8")
    assert scaling.documents_of(str(source)) == documents
    path = str(tmp_path / "corpus_3x.txt")
    size = scaling.write_scaled_corpus(documents, 3, path, seed=1)
    assert size == os.path.getsize(path)
    copies = scaling.documents_of(path)
    assert len(copies) == 60
    assert [sorted(copies[k * 20 : (k + 1) * 20]) for k in range(3)] == [sorted(documents)] * 3
    assert copies[:20] != documents and copies[:20] != copies[20:40]
    assert scaling.write_scaled_corpus(["other"], 3, path) == size  # an existing file is kept


def rows(seconds, rss, steps):
    return [
        {
            "scale": scale,
            "corpus_megabytes": 20.0 * scale,
            "tokens": 5_000_000 * scale,
            "shards": 5 * scale,
            "preprocess_seconds": s,
            "preprocess_peak_rss_mb": r,
            "train_seconds": 60.0,
            "train_peak_rss_mb": r + 100,
            "train_steps_per_second": p,
        }
        for scale, s, r, p in zip((1, 4, 16), seconds, rss, steps)
    ]


@pytest.mark.parametrize(
    "measured, expected",
    [
        (rows((10, 40, 161), (900, 910, 950), (5.0, 5.1, 4.9)), [True, True, True]),
        (rows((10, 60, 320), (900, 1400, 2900), (5.0, 4.0, 3.0)), [False, False, False]),
    ],
)
def test_growth_is_judged_against_the_targets(measured, expected):
    grown = scaling.growth(measured)
    assert grown["size_ratio"] == 16.0
    assert list(scaling.verdicts(grown).values()) == expected


def test_the_report_has_the_table_the_targets_and_the_comparisons(tmp_path):
    measured = rows((10, 40, 161), (900, 910, 950), (5.0, 5.1, 4.9))
    grown = scaling.growth(measured)
    results = {
        "command": "python -m benchmarks.scaling --corpus=c.txt",
        "date": "2026-12-03",
        "cpu_count": 2,
        "platform": "Linux",
        "scales": measured,
        "in_memory_1x": {"seconds": 12.5, "peak_rss_mb": 1500.0},
        "formats": {
            "tfrecord": {"read_seconds": 0.4, "megabytes": 30.0},
            "dataset_save": {"write_seconds": 1.0, "read_seconds": 0.5, "megabytes": 31.0},
        },
        "growth": grown,
        "targets": scaling.TARGETS,
        "verdicts": scaling.verdicts(grown),
    }
    out = str(tmp_path / "scaling")
    scaling.write_report(results, out)
    report = open(out + ".md", encoding="utf-8").read()
    assert "| 16x | 320.0 | 80,000,000 | 80 | 161 |" in report
    assert "- peak RSS grows by less than 20%: **met**" in report
    assert "`read_corpus` + `tokenize_corpus`: 12.5 s" in report
    assert "| tf.data save/load | 31.0 | 1.00 | 0.50 |" in report
    assert json.load(open(out + ".json", encoding="utf-8"))["growth"] == grown
    assert os.path.getsize(out + ".png") > 1000
