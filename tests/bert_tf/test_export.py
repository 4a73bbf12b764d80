"""Tests for bert_tf.export: the SavedModel runs in a process that has only TensorFlow and
tensorflow-text, and answers as `bert-tf-predict` does; versions are written atomically."""

import json
import os
import shutil
import subprocess
import sys

import finetuning_support as support
import numpy as np
import pytest
import tensorflow as tf

import backbones
from bert_tf import export
from bert_tf.errors import InputError
from bert_tf.export import ExportConfig, export_classifier
from bert_tf.metrics import decide_labels
from bert_tf.prediction import ClassifierPredictor, load_predictor, predict_lines

LABELS = ["audio", "science", "gui", "games", "web"]
TOP_K = 3

# Run with `python -I`: loads each export and writes its outputs for the texts. The project's
# packages cannot be imported there (a finder refuses them, even through the editable install),
# so the export must stand on TensorFlow and tensorflow-text alone.
FRESH_PROCESS_SCRIPT = """
import importlib.abc, importlib.machinery, json, sys

PROJECT = ("bert_tf", "backbones", "pretrain_tasks", "bert_cli", "predict_bert", "keras_hub")

class Refuse(importlib.abc.Loader):
    def create_module(self, spec):
        raise ImportError(f"{spec.name} is not to be imported by an exported model")
    def exec_module(self, module):
        pass

class RefuseProject(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in PROJECT:
            return importlib.machinery.ModuleSpec(name, Refuse())
        return None

sys.meta_path.insert(0, RefuseProject())
import tensorflow as tf
import tensorflow_text  # noqa: F401

texts_path, out_path, *export_dirs = sys.argv[1:]
with open(texts_path, encoding="utf-8") as f:
    texts = json.load(f)
results = {}
for export_dir in export_dirs:
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    outputs = serve(text=tf.constant(texts))
    results[export_dir] = {
        "probabilities": outputs["probabilities"].numpy().tolist(),
        "labels_mask": outputs["labels_mask"].numpy().tolist(),
        "top_labels": [[x.decode() for x in row] for row in outputs["top_labels"].numpy()],
        "top_scores": outputs["top_scores"].numpy().tolist(),
        "dtypes": {name: value.dtype.name for name, value in outputs.items()},
    }
results["project_modules"] = sorted(m for m in sys.modules if m.split(".")[0] in PROJECT)
with open(out_path, "w", encoding="utf-8") as f:
    json.dump(results, f)
"""


def sample_texts():
    """The shipped sample's test lines without their labels, plus an empty line and two lines
    of 1 MB (one of words, one a single endless word)."""
    texts = [line.split("__label__")[0].strip() for line in support.read_lines("test.txt", 200)]
    return texts + ["", "word " * 200_000, "x" * 1_000_000]


def separating_thresholds(probabilities: np.ndarray) -> np.ndarray:
    """Per label, a threshold halfway between the two middle probabilities, so about half the
    texts are chosen and none lies within float noise of a threshold."""
    ordered = np.sort(probabilities, axis=0)
    middle = len(ordered) // 2
    return (ordered[middle - 1] + ordered[middle]) / 2


def untrained_model(directory, backbone_name, texts, per_label: bool):
    """An untrained tiny classifier whose thresholds split the texts' probabilities (per label,
    or one for all), so that decisions vary.

    Returns:
        (model directory, probabilities [N, L], decisions [N, L]) as `bert-tf-predict` computes
        them (`ClassifierPredictor`, `metrics.decide_labels`).
    """
    model_dir = support.make_untrained_classifier(directory, LABELS, [0.5] * 5, backbone_name)
    probabilities, _ = ClassifierPredictor(model_dir)(texts)
    if per_label:
        thresholds = separating_thresholds(probabilities)
    else:
        thresholds = separating_thresholds(probabilities.reshape(-1, 1))[0]
    config = support.read_config(model_dir)
    config["classifier"]["thresholds"] = thresholds.tolist()
    support.write_config(model_dir, config)
    return model_dir, probabilities, decide_labels(probabilities, thresholds.astype(np.float32))


@pytest.mark.slow
def test_the_export_needs_only_tensorflow_and_answers_as_predict_does(tmp_path):
    texts = sample_texts()
    expected = {}
    for backbone_name, per_label in zip(sorted(backbones.BACKBONES), (True, False)):
        model_dir, probabilities, decisions = untrained_model(
            tmp_path / backbone_name, backbone_name, texts, per_label
        )
        export_dir = str(tmp_path / "exported" / backbone_name / "1")
        export_classifier(ExportConfig(model_dir=model_dir, export_dir=export_dir, top_k=TOP_K))
        expected[export_dir] = probabilities, decisions
    script, texts_path, out_path = (tmp_path / name for name in ("s.py", "t.json", "o.json"))
    script.write_text(FRESH_PROCESS_SCRIPT, encoding="utf-8")
    texts_path.write_text(json.dumps(texts), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-I", str(script), str(texts_path), str(out_path), *expected],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(out_path.read_text(encoding="utf-8"))
    assert results["project_modules"] == []

    for export_dir, (expected_probabilities, expected_decisions) in expected.items():
        exported = results[export_dir]
        probabilities = np.array(exported["probabilities"])
        assert probabilities.shape == (len(texts), len(LABELS))
        np.testing.assert_allclose(probabilities, expected_probabilities, atol=1e-5, rtol=0)
        decisions = np.array(exported["labels_mask"])
        np.testing.assert_array_equal(decisions, expected_decisions)
        assert 0 < decisions.mean() < 1 and decisions.any(axis=1).all()  # varied, top-1 kept
        assert exported["dtypes"] == {
            "probabilities": "float32",
            "labels_mask": "bool",
            "top_labels": "string",
            "top_scores": "float32",
        }
        order = np.argsort(-expected_probabilities, axis=1, kind="stable")[:, :TOP_K]
        np.testing.assert_allclose(
            exported["top_scores"],
            np.take_along_axis(expected_probabilities, order, axis=1),
            atol=1e-5,
        )
        top_labels = np.array(exported["top_labels"])
        np.testing.assert_array_equal(top_labels[:, 0], np.array(LABELS)[order[:, 0]])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("export") / "model"
    return support.make_untrained_classifier(directory, LABELS[:3], [0.5, 0.4, 0.6])


def test_top_k_above_the_number_of_labels_returns_every_label(model_dir, tmp_path):
    export_dir = export_classifier(
        ExportConfig(model_dir=model_dir, export_dir=str(tmp_path / "m" / "7"), top_k=10)
    )
    outputs = tf.saved_model.load(export_dir).signatures["serving_default"](
        text=tf.constant(["a text", ""])
    )
    assert outputs["top_labels"].shape == (2, 3)
    assert sorted(x.decode() for x in outputs["top_labels"].numpy()[0]) == sorted(LABELS[:3])


def test_a_failed_export_leaves_no_version_directory(model_dir, tmp_path, monkeypatch):
    def crash_midway(module, directory, signatures):
        os.makedirs(os.path.join(directory, "variables"))
        with open(os.path.join(directory, "saved_model.pb"), "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(export.tf.saved_model, "save", crash_midway)
    export_dir = tmp_path / "exported" / "1"
    with pytest.raises(OSError, match="disk full"):
        export_classifier(ExportConfig(model_dir=model_dir, export_dir=str(export_dir)))
    assert os.listdir(tmp_path / "exported") == []


@pytest.mark.parametrize(
    "version, existing, message",
    [("v1", False, "positive integer"), ("0", False, "positive integer"), ("3", True, "exists")],
)
def test_bad_version_directories_are_refused(model_dir, tmp_path, version, existing, message):
    export_dir = tmp_path / version
    if existing:
        export_dir.mkdir()
    with pytest.raises(InputError, match=message):
        export_classifier(ExportConfig(model_dir=model_dir, export_dir=str(export_dir)))


def test_the_decision_rule_comes_from_the_models_config(model_dir, tmp_path):
    config = support.read_config(model_dir)
    config["classifier"]["problem_type"] = "ranking"
    changed = shutil.copytree(model_dir, tmp_path / "model")
    support.write_config(changed, config)
    with pytest.raises(InputError, match="problem type 'ranking'.*multi_label"):
        export_classifier(ExportConfig(model_dir=str(changed), export_dir=str(tmp_path / "e/1")))


@pytest.mark.slow
def test_a_single_label_pair_model_exports_its_softmax_and_argmax_class(tmp_path):
    """A single-label model on sentence pairs: the export splits `A<TAB>B` in its graph, gives
    the softmax, only the most probable class in `labels_mask`, and answers as the rebuilt model
    does; `bert-tf-predict` prints the same from either."""
    model_dir = support.make_untrained_classifier(
        tmp_path / "model", LABELS, None, problem_type="single_label", text_pairs=True
    )
    texts = [f"{a}\t{b}" for a, b in zip(sample_texts()[:20], sample_texts()[20:40])]
    texts += ["only one text", "\t"]  # no B, and two empty texts: answered as the model does
    export_dir = export_classifier(
        ExportConfig(model_dir=model_dir, export_dir=str(tmp_path / "e" / "1"), top_k=TOP_K)
    )
    loaded = tf.saved_model.load(export_dir)
    assert bool(loaded.text_pairs().numpy())
    outputs = {
        name: value.numpy()
        for name, value in loaded.signatures["serving_default"](text=tf.constant(texts)).items()
    }
    rebuilt = ClassifierPredictor(model_dir)
    probabilities, decided = rebuilt(texts)
    np.testing.assert_allclose(outputs["probabilities"], probabilities, atol=1e-5, rtol=0)
    np.testing.assert_allclose(outputs["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    argmax = np.argmax(outputs["probabilities"], axis=1)
    np.testing.assert_array_equal(outputs["labels_mask"], np.eye(len(LABELS), dtype=bool)[argmax])
    np.testing.assert_array_equal(decided, outputs["labels_mask"])
    assert [row[0].decode() for row in outputs["top_labels"]] == [LABELS[i] for i in argmax]
    # Pairs change the answer: the same texts swapped are other inputs.
    swapped = ["\t".join(reversed(text.split("\t"))) for text in texts[:20]]
    assert not np.allclose(rebuilt(swapped)[0], probabilities[:20], atol=1e-4)

    pair_lines = texts[:20]
    from_export = list(predict_lines(pair_lines, load_predictor(export_dir), batch_size=7))
    from_model = list(predict_lines(pair_lines, rebuilt, batch_size=7))
    assert [line.split(":")[0] for line in from_export] == [LABELS[i] for i in argmax[:20]]
    assert [line.split(":")[0] for line in from_model] == [LABELS[i] for i in argmax[:20]]
    assert all("\t" not in line for line in from_export)  # one class a line
