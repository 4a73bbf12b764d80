"""A backbone with the heads of its pretraining tasks."""

import keras
from keras import ops

from backbones.base import BACKBONE_INPUTS


def float32_floats(structure):
    """`structure` with its floating tensors cast to float32: under a mixed dtype policy the
    heads compute in bfloat16, and the losses and metrics are taken in float32."""

    def cast(tensor):
        is_float = keras.backend.is_float_dtype(tensor.dtype)
        return ops.cast(tensor, "float32") if is_float else tensor

    return keras.tree.map_structure(cast, structure)


class PretrainingModel(keras.Model):
    """Runs the backbone once and every task's head on its outputs.

    Before the backbone runs, each task may rewrite its inputs (`rewrite_backbone_inputs`;
    ELECTRA's generator replaces tokens there); most tasks leave them alone.

    Args:
        backbone: keras.Model. Honours the backbone contract.
        tasks: list[PretrainingTask].

    Call: batch dict -> dict of head outputs keyed by task name.
    """

    def __init__(self, backbone, tasks, name="pretraining_model", **kwargs):
        # A fixed name keeps the heads' weight paths stable (Keras numbers default names).
        super().__init__(name=name, **kwargs)
        self.backbone = backbone
        self.tasks = list(tasks)
        self.heads = {task.name: task.build_head(backbone) for task in self.tasks}

    def call(self, batch, training=False):
        inputs = {key: batch[key] for key in BACKBONE_INPUTS}
        for task in self.tasks:
            inputs, batch = task.rewrite_backbone_inputs(
                self.heads[task.name], inputs, batch, training=training
            )
        outputs = self.backbone(inputs, training=training)
        return {name: float32_floats(head(outputs, batch)) for name, head in self.heads.items()}

    def loss_and_metrics(self, batch, training=False):
        """The weighted sum of the tasks' losses, and each task's metrics prefixed by its name."""
        outputs = self(batch, training=training)
        total, metrics = 0.0, {}
        for task in self.tasks:
            loss, task_metrics = task.loss_and_metrics(outputs[task.name], batch)
            total += task.loss_weight * loss
            metrics.update({f"{task.name}_{key}": value for key, value in task_metrics.items()})
        return total, metrics

    def head_variables(self, task_names=None):
        """The variables of the heads alone (the tied token embedding belongs to the backbone).

        Args:
            task_names: iterable of str or None. Only these tasks' heads; None for all.
        """
        names = self.heads if task_names is None else list(task_names)
        backbone_ids = {id(v) for v in self.backbone.weights}
        return [v for name in names for v in self.heads[name].weights if id(v) not in backbone_ids]

    def head_path(self, task_name) -> str:
        """The prefix of a task head's weight paths (`pretraining_model/masked_lm/`)."""
        return f"{self.name}/{task_name}/"
