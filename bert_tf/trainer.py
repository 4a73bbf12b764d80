"""A distributed custom training loop with checkpoints, a NaN guard, a progress bar and
TensorBoard scalars, shared by pretraining and fine-tuning."""

import collections
import json
import math
import os
import sys
import time

import keras
import tensorflow as tf
from absl import logging

from bert_tf import atomic_write
from bert_tf.errors import TrainingError

#: Where in a run's output directory its checkpoints and resumable state go.
CHECKPOINT_DIR = "checkpoints"


class Trainer:
    """Trains `model` with `optimizer` on the loss returned by `loss_fn`.

    Args:
        model: keras.Model. Built (called once) in `strategy.scope()`.
        optimizer: keras.optimizers.Optimizer. Built on the model's trainable variables.
        loss_fn: callable(batch, training) -> (scalar loss, dict of scalar metrics).
        strategy: tf.distribute.Strategy. The one the model was built under.
        checkpoint_dir: str. Where checkpoints go (`tf.train.CheckpointManager`; TensorFlow
            writes the files first and the `checkpoint` index last, so a crash mid-save leaves
            the previous checkpoint usable).
        log_dir: str. TensorBoard event files.
        max_to_keep: int. Checkpoints kept.
        jit_compile: bool. Compile each replica's step with XLA (`--jit_compile`; a TPU always
            does).
        static_shapes: bool. The batches come in a few fixed shapes (`--static_shapes`): the
            step is traced once per shape, so every program it compiles has static shapes.
    """

    def __init__(
        self,
        model,
        optimizer,
        loss_fn,
        strategy,
        checkpoint_dir,
        log_dir,
        max_to_keep=2,
        *,
        jit_compile=False,
        static_shapes=False,
    ):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.strategy = strategy
        with strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=self.step)
        os.makedirs(checkpoint_dir, exist_ok=True)
        self.manager = tf.train.CheckpointManager(self.checkpoint, checkpoint_dir, max_to_keep)
        self._first_step_path = os.path.join(checkpoint_dir, "first_step_metrics.json")
        self.writer = tf.summary.create_file_writer(log_dir)
        self.jit_compile = jit_compile
        self.static_shapes = static_shapes
        self._train_step = None

    @classmethod
    def in_output_dir(
        cls, model, optimizer, strategy, output_dir, stage, max_to_keep=2, config=None
    ):
        """A trainer of `model.loss_and_metrics` that keeps its checkpoints in
        `<output_dir>/checkpoints` and its TensorBoard logs in `<output_dir>/logs/<stage>`,
        compiled as the run's `config` (a RunConfig: `jit_compile`, `static_shapes`) asks."""
        return cls(
            model,
            optimizer,
            model.loss_and_metrics,
            strategy,
            os.path.join(output_dir, CHECKPOINT_DIR),
            os.path.join(output_dir, "logs", stage),
            max_to_keep,
            jit_compile=bool(config and config.jit_compile),
            static_shapes=bool(config and config.static_shapes),
        )

    @staticmethod
    def checkpointed_step(checkpoint_dir: str) -> int:
        """The step of the latest checkpoint in `checkpoint_dir`, or 0, read without building a
        model (so a resumed run can make its data stream continue before the model exists)."""
        latest = tf.train.latest_checkpoint(checkpoint_dir)
        if not latest:
            return 0
        return int(tf.train.load_variable(latest, "step/.ATTRIBUTES/VARIABLE_VALUE"))

    def restore(self) -> int:
        """Restores the latest checkpoint if there is one; returns the step it was taken at."""
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(
                self.manager.latest_checkpoint
            ).assert_existing_objects_matched()
            logging.info(
                "resumed from %s (step %d)", self.manager.latest_checkpoint, self.step.numpy()
            )
        return int(self.step.numpy())

    def save(self) -> str:
        """Writes a checkpoint at the current step."""
        return self.manager.save(checkpoint_number=int(self.step.numpy()))

    def _build_train_step(self, element_spec):
        model, optimizer, strategy = self.model, self.optimizer, self.strategy

        def replica_step(batch):
            with tf.GradientTape() as tape:
                loss, metrics = self.loss_fn(batch, training=True)
                scaled_loss = loss / strategy.num_replicas_in_sync
            gradients = tape.gradient(scaled_loss, model.trainable_variables)
            # Variables the loss does not reach (e.g. the backbone's pooler under mean
            # pooling) have no gradient; they are left alone.
            optimizer.apply_gradients(
                [(g, v) for g, v in zip(gradients, model.trainable_variables) if g is not None]
            )
            counts = {
                "padded_tokens": tf.cast(tf.size(batch["token_ids"]), tf.float32),
                "tokens": tf.reduce_sum(tf.cast(batch["padding_mask"], tf.float32)),
            }
            return dict(metrics, loss=loss), counts

        # Keras's own trainer compiles the replica's step, not the cross-replica function.
        replica_step = tf.function(replica_step, jit_compile=self.jit_compile or None)

        # Dynamic shapes: one trace for every batch length; static shapes: one for each shape.
        @tf.function(input_signature=None if self.static_shapes else [element_spec])
        def train_step(batch):
            metrics, counts = strategy.run(replica_step, args=(batch,))
            reduced = {
                key: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                for key, value in metrics.items()
            }
            for key, value in counts.items():
                reduced[key] = strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
            self.step.assign_add(1)
            return reduced

        return train_step

    def train(
        self,
        dataset,
        num_steps,
        *,
        checkpoint_every=0,
        log_every=50,
        on_step=None,
        on_step_every=1,
        summary_window=100,
    ):
        """Runs steps from the current one up to `num_steps`.

        Args:
            dataset: tf.data.Dataset of endless global batches of feature dicts with
                `token_ids` and `padding_mask`; or a tf.distribute.DistributedDataset of
                such (per-replica) batches, e.g. from `distribute_datasets_from_function`.
            num_steps: int. The step to stop at (total, not additional).
            checkpoint_every: int. Save every this many steps (0: only at the end).
            log_every: int. TensorBoard scalars every this many steps.
            on_step: callable(step, metrics) or None. Called every `on_step_every` steps and at
                the last (e.g. to evaluate at epoch ends) with the metrics averaged since its
                last call; it may return a dict of extra scalars to log.
            on_step_every: int.
            summary_window: int. Steps averaged for the `end` figures.

        Returns:
            dict: `first` (metrics of the first step run here), `end` (mean over the last
            `summary_window` steps), `steps_run`, `steps_per_second`, `tokens_per_second`
            (real tokens, padding left out) and `padded_tokens_per_second`.

        Raises:
            TrainingError: the loss is NaN or infinite; the last checkpoint is left intact.
        """
        distributed = (
            dataset
            if isinstance(dataset, tf.distribute.DistributedDataset)
            else self.strategy.experimental_distribute_dataset(dataset)
        )
        if self._train_step is None:
            self._train_step = self._build_train_step(distributed.element_spec)
        iterator = iter(distributed)
        start = int(self.step.numpy())
        # A live bar on a terminal; in a log file, a log line every `log_every` steps instead.
        interactive = sys.stdout.isatty()
        progress = keras.utils.Progbar(num_steps, unit_name="step", verbose=int(interactive))
        progress.update(start)
        window = collections.deque(maxlen=summary_window)
        logged, hooked, counted = _Means(), _Means(), _Means()
        first, started = None, time.perf_counter()
        for step in range(start + 1, num_steps + 1):
            metrics = {k: float(v) for k, v in self._train_step(next(iterator)).items()}
            if not math.isfinite(metrics["loss"]):
                raise TrainingError(
                    f"the loss became {metrics['loss']} at step {step}; stopped without saving. "
                    f"The last good checkpoint is {self.manager.latest_checkpoint or 'none'}. "
                    "Try a lower --learning_rate."
                )
            counted.add({key: metrics.pop(key) for key in ("tokens", "padded_tokens")})
            if step == 1:
                atomic_write.write_json(self._first_step_path, metrics)
            first = first or metrics
            window.append(metrics)
            logged.add(metrics)
            hooked.add(metrics)
            extra = None
            if on_step and (step % on_step_every == 0 or step == num_steps):
                extra = on_step(step, hooked.means())
                hooked = _Means()
            progress.update(step, list(metrics.items()))
            if step % log_every == 0 or step == num_steps or extra:
                self._write_summaries(step, logged.means(), extra, counted, started)
                if not interactive:
                    means = " ".join(f"{k}={v:.4f}" for k, v in logged.means().items())
                    logging.info("step %d/%d %s", step, num_steps, means)
                logged = _Means()
            if checkpoint_every and step % checkpoint_every == 0:
                self.save()
        elapsed = time.perf_counter() - started
        if self.static_shapes:
            logging.info("the training step was compiled for %d batch shapes", self.step_programs)
        steps_run = num_steps - start
        if steps_run > 0 and (not checkpoint_every or num_steps % checkpoint_every):
            self.save()
        end = _Means()
        for metrics in window:
            end.add(metrics)
        rate = (lambda total: total / elapsed) if steps_run > 0 else (lambda total: 0.0)
        return {
            "first": first,
            "end": end.means(),
            "steps_run": steps_run,
            "steps_per_second": rate(steps_run),
            "tokens_per_second": rate(counted.sums.get("tokens", 0.0)),
            "padded_tokens_per_second": rate(counted.sums.get("padded_tokens", 0.0)),
        }

    @property
    def step_programs(self) -> int:
        """How many programs the training step was traced into so far: one per batch shape
        with `static_shapes` (what XLA or a TPU compiles), else one."""
        return self._train_step.experimental_get_tracing_count() if self._train_step else 0

    def first_step_metrics(self) -> dict:
        """The metrics of the run's very first step (kept on disk, so resumed runs have them)."""
        if not os.path.isfile(self._first_step_path):
            return {}
        with open(self._first_step_path, encoding="utf-8") as f:
            return json.load(f)

    def _write_summaries(self, step, means, extra, counted, started):
        elapsed = max(time.perf_counter() - started, 1e-9)
        with self.writer.as_default(step=step):
            for key, value in means.items():
                tf.summary.scalar(f"train/{key}", value)
            for key, value in (extra or {}).items():
                tf.summary.scalar(key, value)
            tf.summary.scalar("train/learning_rate", float(self.optimizer.learning_rate))
            for key, total in counted.sums.items():
                tf.summary.scalar(f"train/{key}_per_second", total / elapsed)
        self.writer.flush()


class _Means:
    """Per-metric running sums over steps, for the means a log line or a hook reports."""

    def __init__(self):
        self.sums, self.steps = {}, 0

    def add(self, metrics: dict) -> None:
        for key, value in metrics.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.steps += 1

    def means(self) -> dict:
        return {key: value / self.steps for key, value in self.sums.items()} if self.steps else {}
