"""Distribution strategies by name, so every model is built in a strategy scope."""

import os

import tensorflow as tf

from bert_tf import cluster
from bert_tf.errors import InputError

STRATEGIES = ("default", "mirrored", "multi_worker_mirrored", "tpu")


def get_strategy(name: str, *, tpu: str = "", cluster_timeout: float = 300.0):
    """Returns the `tf.distribute` strategy called `name`.

    `default` is TensorFlow's default strategy (one device); `mirrored` replicates over the
    local devices (every GPU); `multi_worker_mirrored` reads the cluster from `TF_CONFIG` and
    waits up to `cluster_timeout` seconds for every worker; `tpu` connects to the TPU named
    `tpu` (a name, `grpc://host:port` or `local`), or to the one the environment names.

    Raises:
        InputError: an unknown name, a malformed `TF_CONFIG`, or a TPU that cannot be reached.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker_mirrored":
        tf_config = cluster.read_tf_config(os.environ.get("TF_CONFIG"))
        return cluster.connect_workers(tf_config, cluster_timeout)
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or None)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, ImportError, tf.errors.OpError) as e:
            raise InputError(
                f"--strategy=tpu: cannot reach the TPU {tpu or '(none named)'}: {e}. Name it "
                "with --tpu: its name, grpc://host:8470, or local on a TPU VM"
            ) from None
        return tf.distribute.TPUStrategy(resolver)
    raise InputError(f"unknown --strategy {name!r}; expected one of {STRATEGIES}")


def check_batch_size(batch_size: int, strategy: tf.distribute.Strategy) -> None:
    """Raises InputError unless the global batch size splits evenly over the replicas."""
    replicas = strategy.num_replicas_in_sync
    if batch_size <= 0 or batch_size % replicas:
        raise InputError(
            f"--batch_size={batch_size}: expected a positive multiple of the "
            f"{replicas} replica(s) of the strategy"
        )
