"""Distribution strategies by name, so every model is built in a strategy scope."""

import tensorflow as tf

from bert_tf.errors import InputError

STRATEGIES = ("default", "mirrored", "multi_worker_mirrored", "tpu")


def get_strategy(name: str) -> tf.distribute.Strategy:
    """Returns the `tf.distribute` strategy called `name`.

    `default` is TensorFlow's default strategy (one device); `mirrored` replicates over the
    local devices; `multi_worker_mirrored` reads the cluster from `TF_CONFIG`; `tpu` connects
    to the TPU that the environment names.

    Raises:
        InputError: for an unknown name.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
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
