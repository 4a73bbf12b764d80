"""Tests for bert_tf.cluster and the strategies of bert_tf.distribution that need no cluster:
TF_CONFIG checks, the role of a one-worker run, the loss of a peer, the TPU's name.

Runs across processes are in tests/test_multi_worker.py.
"""

import json

import pytest
import tensorflow as tf

from bert_tf import cluster, distribution
from bert_tf.errors import InputError, TrainingError

GOOD = {
    "cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]},
    "task": {"type": "worker", "index": 1},
}


def test_a_good_tf_config_is_read_and_none_means_one_worker():
    assert cluster.read_tf_config(json.dumps(GOOD)) == GOOD
    assert cluster.read_tf_config("") is None
    chief = {
        "cluster": {"chief": ["a:1"], "worker": ["b:2"]},
        "task": {"type": "chief", "index": 0},
    }
    assert cluster.read_tf_config(json.dumps(chief)) == chief


@pytest.mark.parametrize(
    "text, problem",
    [
        ("{'cluster': }", "not valid JSON"),
        (json.dumps({"task": GOOD["task"]}), "no 'cluster' object"),
        (json.dumps(dict(GOOD, cluster={"ps": ["a:1"], "worker": ["b:2"]})), "takes 'chief' and"),
        (json.dumps(dict(GOOD, cluster={"worker": ["localhost"]})), "'localhost' is not host:port"),
        (json.dumps(dict(GOOD, cluster={"worker": []})), "not a list of host:port"),
        (json.dumps(dict(GOOD, task={"type": "evaluator", "index": 0})), "is not of a job"),
        (json.dumps(dict(GOOD, task={"type": "worker", "index": 2})), "index 2 is not one of"),
        (json.dumps(dict(GOOD, task={"type": "worker"})), "index None"),
    ],
)
def test_a_malformed_tf_config_is_a_clear_error(text, problem):
    with pytest.raises(InputError, match=f'TF_CONFIG: .*{problem}.*Expected .*"cluster"'):
        cluster.read_tf_config(text)


def test_a_malformed_tf_config_stops_the_strategy_before_it_starts(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {}}')
    with pytest.raises(InputError, match="TF_CONFIG: task"):
        distribution.get_strategy("multi_worker_mirrored")


def test_one_worker_is_the_chief_and_writes_into_the_output_dir(tmp_path):
    role = cluster.WorkerRole(tf.distribute.get_strategy())
    assert role.is_chief
    with role.chief_first():
        assert role.working_dir(str(tmp_path)) == str(tmp_path)
    with role.discarding(str(tmp_path)):
        pass
    assert tmp_path.is_dir()  # the chief's directory stays
    with pytest.raises(InputError, match="bad corpus"):  # the chief's failure is its own
        with role.chief_first():
            raise InputError("bad corpus")


def test_losing_a_peer_becomes_a_training_error_that_says_how_to_resume(tmp_path):
    role = cluster.WorkerRole(tf.distribute.get_strategy())
    with pytest.raises(TrainingError, match="run the same command on every worker to resume"):
        with role.discarding(str(tmp_path)):
            raise tf.errors.UnavailableError(None, None, "Collective ops is aborted by: peer down")


def test_the_tpu_flag_names_the_tpu(monkeypatch):
    asked = []

    class NoSuchTpu:
        def __init__(self, tpu=None):
            asked.append(tpu)
            raise ValueError(f"could not find TPU {tpu}")

    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", NoSuchTpu)
    with pytest.raises(InputError, match="cannot reach the TPU my-tpu.*--tpu"):
        distribution.get_strategy("tpu", tpu="my-tpu")
    with pytest.raises(InputError, match=r"TPU \(none named\)"):
        distribution.get_strategy("tpu")
    assert asked == ["my-tpu", None]
