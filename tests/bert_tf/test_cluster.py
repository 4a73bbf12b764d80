"""Tests for bert_tf.cluster and the strategies of bert_tf.distribution that need no cluster:
TF_CONFIG checks, the role of a one-worker run, the loss of a peer, the TPU's name.

Runs across processes are in tests/test_multi_worker.py.
"""

import json
import os
import types

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
    with role.discarding():
        pass
    assert tmp_path.is_dir()  # the chief's directory stays
    with pytest.raises(InputError, match="bad corpus"):  # the chief's failure is its own
        with role.chief_first():
            raise InputError("bad corpus")


def test_losing_a_peer_becomes_a_training_error_that_says_how_to_resume(tmp_path):
    role = cluster.WorkerRole(tf.distribute.get_strategy())
    with pytest.raises(TrainingError, match="run the same command on every worker to resume"):
        with role.discarding():
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


class OtherWorkerStrategy:
    """Stands in for worker 1 of a two-worker MultiWorkerMirroredStrategy: `_barrier`'s
    collective sum comes out as `ready_total`."""

    num_replicas_in_sync = 2

    def __init__(self, ready_total=2):
        self.extended = types.SimpleNamespace(should_checkpoint=False)
        self.cluster_resolver = types.SimpleNamespace(task_type="worker", task_id=1)
        self.ready_total = ready_total

    def run(self, fn):
        return fn()

    def reduce(self, op, value, axis):
        return tf.constant(float(self.ready_total))


def chief_output_dir(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "vocab.txt").write_text("[PAD]\n", encoding="utf-8")
    return str(tmp_path)


def test_another_worker_works_on_a_copy_that_is_removed_however_it_ends(tmp_path):
    output_dir = chief_output_dir(tmp_path)
    role = cluster.WorkerRole(OtherWorkerStrategy())
    assert not role.is_chief and role.task == "worker 1"
    with role.chief_first():
        working = role.working_dir(output_dir)
    assert working == str(tmp_path / "workertemp_1")
    assert (tmp_path / "workertemp_1" / "checkpoints" / "vocab.txt").is_file()
    with pytest.raises(ValueError):
        with role.discarding():
            raise ValueError("training failed")
    assert sorted(os.listdir(tmp_path)) == ["checkpoints"]
    with pytest.raises(InputError):  # failing while it prepares: removed as well
        with role.chief_first():
            role.working_dir(output_dir)
            raise InputError("no shards")
    assert sorted(os.listdir(tmp_path)) == ["checkpoints"]


def test_another_worker_stops_when_the_chief_failed_to_prepare(tmp_path):
    role = cluster.WorkerRole(OtherWorkerStrategy(ready_total=1))
    with pytest.raises(TrainingError, match="the chief stopped while it prepared the run"):
        with role.chief_first():
            pytest.fail("ran the block although the chief failed")
    role = cluster.WorkerRole(OtherWorkerStrategy())
    with pytest.raises(InputError, match="file system every worker shares"):
        with role.chief_first():
            role.working_dir(str(tmp_path / "not_shared"))
