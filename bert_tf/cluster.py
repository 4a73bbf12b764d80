"""Which worker this process is in a multi-worker run, and where it may write.

`MultiWorkerMirroredStrategy` runs the same program on every worker. Following the pattern
Keras documents for multi-worker saving, every worker writes (checkpoints, logs, the final
files), but only the chief into `--output_dir`; the others write into a temporary directory of
their own, `<output_dir>/workertemp_<index>`, removed when the run ends. Work that must happen
once (the output directory's state, the vocabulary, the corpus shards) runs on the chief first,
while the others wait at a barrier; then each of them starts from a copy of the chief's
checkpoint directory, so a rerun of the same command on every worker resumes from the chief's
last checkpoint. `--output_dir` must therefore be on a file system every worker shares. A worker
waits at most `--cluster_timeout` seconds for the others to join, and a worker that loses a
peer stops with an error that says how to resume.
"""

import contextlib
import json
import os
import re
import shutil

import tensorflow as tf

# The coordination service is configured through the eager context, as
# MultiWorkerMirroredStrategy itself does; TensorFlow has no public API for it.
from tensorflow.python.eager import context

from bert_tf.errors import InputError, TrainingError
from bert_tf.trainer import CHECKPOINT_DIR

TF_CONFIG_EXAMPLE = (
    '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 0}}'
)
#: Errors TensorFlow raises in a collective when a peer is gone.
PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError)


def read_tf_config(text: str | None) -> dict | None:
    """Parses and checks `TF_CONFIG` for a multi-worker run; None when it is not set.

    Raises:
        InputError: not JSON, or not a cluster of `chief`/`worker` tasks with this process's
            task among them.
    """
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        _bad_tf_config(f"not valid JSON ({e})")
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        _bad_tf_config("no 'cluster' object")
    cluster = config["cluster"]
    if not cluster or set(cluster) - {"chief", "worker"}:
        _bad_tf_config(
            f"cluster jobs {sorted(cluster)}; MultiWorkerMirroredStrategy takes 'chief' and "
            "'worker' tasks"
        )
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            _bad_tf_config(f"cluster.{job} is not a list of host:port addresses")
        for address in addresses:
            host, _, port = str(address).rpartition(":")
            if not (isinstance(address, str) and host and port.isdigit()):
                _bad_tf_config(f"cluster.{job} address {address!r} is not host:port")
    task = config.get("task")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        _bad_tf_config(f"task {task!r} is not of a job in the cluster ({sorted(cluster)})")
    index = task.get("index")
    if not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
        _bad_tf_config(
            f"task index {index!r} is not one of the {len(cluster[task['type']])} "
            f"{task['type']} addresses"
        )
    return config


def _bad_tf_config(problem):
    raise InputError(
        f"TF_CONFIG: {problem}. Expected the cluster and this worker's task, e.g. "
        f"{TF_CONFIG_EXAMPLE}"
    )


def connect_workers(tf_config: dict | None, timeout_seconds: float):
    """Creates a `MultiWorkerMirroredStrategy` once every worker of `tf_config` has joined.

    TensorFlow's coordination service registers the workers; it is set up here as the strategy
    would set it up, except that registration is a barrier with a deadline (by default a
    missing worker is waited for without limit, inside C++ where Python cannot interrupt).

    Args:
        tf_config: dict or None. From `read_tf_config` (None: a cluster of one).
        timeout_seconds: float. How long to wait for every worker.

    Raises:
        InputError: not every worker joined within `timeout_seconds`.
    """
    if tf_config:
        _configure_coordination(tf_config["cluster"], timeout_seconds)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except tf.errors.DeadlineExceededError:
        task = tf_config["task"]
        raise InputError(
            f"{task['type']} {task['index']} could not reach every worker of TF_CONFIG "
            f"({json.dumps(tf_config['cluster'])}) within --cluster_timeout={timeout_seconds:g} "
            "seconds; start the same command on every worker, check the addresses and ports, "
            "or raise --cluster_timeout"
        ) from None
    return strategy


def _configure_coordination(cluster: dict, timeout_seconds: float) -> None:
    ctx = context.context()
    leader = "chief" if "chief" in cluster else "worker"
    ctx.configure_coordination_service(
        service_type="standalone",
        service_leader=f"/job:{leader}/replica:0/task:0",
        cluster_register_timeout_in_ms=int(timeout_seconds * 1000),
    )
    config = ctx.coordination_service
    config.cluster_register_with_barrier = True
    for job in ("chief", "worker"):
        if job in cluster:
            config.coordinated_job_list.add(name=job, num_tasks=len(cluster[job]))


def _barrier(strategy, ready: bool) -> bool:
    """Returns once every worker has called it (a collective sum; immediate on one worker):
    whether every worker was `ready`."""
    ones = strategy.run(lambda: tf.constant(float(ready)))
    total = strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)
    return int(total) == strategy.num_replicas_in_sync


class WorkerRole:
    """This process's place in the run: the chief (the only one in a one-worker run) or
    another worker.

    Args:
        strategy: tf.distribute.Strategy.
    """

    def __init__(self, strategy):
        self.strategy = strategy
        self.is_chief = strategy.extended.should_checkpoint
        resolver = strategy.cluster_resolver
        if getattr(resolver, "task_type", None) is None:  # not a multi-worker cluster
            self.task, self.index = "chief", 0
        else:
            self.task, self.index = f"{resolver.task_type} {resolver.task_id}", resolver.task_id
        self._temporary_dir = None

    @contextlib.contextmanager
    def chief_first(self):
        """Runs the block on the chief, then (after a barrier) on the other workers; if the
        block fails on the chief, the others stop too.

        Raises:
            TrainingError: on another worker, when the chief's block failed or a peer is gone.
        """
        with self._peer_errors():
            if self.is_chief:
                try:
                    yield
                except BaseException:
                    _barrier(self.strategy, ready=False)
                    raise
                _barrier(self.strategy, ready=True)
                return
            if not _barrier(self.strategy, ready=True):
                raise TrainingError(
                    f"{self.task}: the chief stopped while it prepared the run (its log says "
                    "why); fix that and run the same command on every worker"
                )
        try:
            yield
        except BaseException:
            self._discard()
            raise

    def working_dir(self, output_dir: str) -> str:
        """Where this worker writes: `output_dir` for the chief; for another worker a fresh
        temporary directory holding a copy of the chief's checkpoint directory (call it after
        the chief has prepared that, in `chief_first`).

        Raises:
            InputError: the chief's checkpoint directory is not visible from here.
        """
        if self.is_chief:
            return output_dir
        chief_checkpoints = os.path.join(output_dir, CHECKPOINT_DIR)
        if not os.path.isdir(chief_checkpoints):
            raise InputError(
                f"{self.task} cannot see the chief's {chief_checkpoints}: --output_dir must be "
                "on a file system every worker shares"
            )
        directory = os.path.join(output_dir, f"workertemp_{self.index}")
        shutil.rmtree(directory, ignore_errors=True)  # left by a killed run
        self._temporary_dir = directory
        shutil.copytree(chief_checkpoints, os.path.join(directory, CHECKPOINT_DIR))
        return directory

    @contextlib.contextmanager
    def discarding(self):
        """Removes this worker's temporary directory (`working_dir`) when the block ends,
        however it ends, and turns the loss of a peer into a TrainingError that says how to
        resume."""
        try:
            with self._peer_errors():
                yield
        finally:
            self._discard()

    def _discard(self):
        if self._temporary_dir:
            shutil.rmtree(self._temporary_dir, ignore_errors=True)

    @contextlib.contextmanager
    def _peer_errors(self):
        try:
            yield
        except PEER_ERRORS as e:
            reason = re.search(r"aborted by: ([^\n]*)", e.message or "")
            peer = re.search(r"remote target (\S+)", e.message or "")
            detail = "; ".join(
                [reason.group(1) if reason else type(e).__name__]
                + ([f"peer {peer.group(1)}"] if peer else [])
            )
            raise TrainingError(
                f"{self.task} lost contact with the cluster ({detail}); run the same command on "
                "every worker to resume from the last checkpoint"
            ) from None
