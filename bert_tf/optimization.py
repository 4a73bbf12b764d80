"""AdamW with linear warmup and linear decay, as BERT trains."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="bert_tf")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to `peak_learning_rate` over `warmup_steps`, then falls linearly
    to 0 at `total_steps`."""

    def __init__(self, peak_learning_rate, total_steps, warmup_steps):
        self.peak_learning_rate = peak_learning_rate
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = ops.cast(max(self.warmup_steps, 1), "float32")
        decay_span = ops.cast(max(self.total_steps - self.warmup_steps, 1), "float32")
        rising = self.peak_learning_rate * step / warmup
        falling = self.peak_learning_rate * ops.maximum(0.0, (self.total_steps - step) / decay_span)
        return ops.where(step < self.warmup_steps, rising, falling)

    def get_config(self):
        return dict(
            peak_learning_rate=self.peak_learning_rate,
            total_steps=self.total_steps,
            warmup_steps=self.warmup_steps,
        )


class ScaledAdamW(keras.optimizers.AdamW):
    """AdamW whose step for some weights is the scheduled one times a fixed factor (layer-wise
    learning-rate decay). Weight decay keeps the scheduled rate for every weight: at the rates
    used here it moves a weight by about 1e-5 of itself a step, so scaling it too would change
    little."""

    def __init__(self, learning_rate_multipliers, **kwargs):
        super().__init__(**kwargs)
        self.learning_rate_multipliers = dict(learning_rate_multipliers)
        self._multiplier_by_index = []

    def build(self, variables):
        super().build(variables)
        self._multiplier_by_index = [
            self.learning_rate_multipliers.get(variable.path, 1.0) for variable in variables
        ]

    def update_step(self, gradient, variable, learning_rate):
        multiplier = self._multiplier_by_index[self._get_variable_index(variable)]
        if multiplier != 1.0:
            learning_rate = learning_rate * multiplier
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["learning_rate_multipliers"] = self.learning_rate_multipliers
        return config


def create_optimizer(
    learning_rate,
    total_steps,
    warmup_steps,
    weight_decay=0.01,
    learning_rate_multipliers=None,
    gradient_accumulation_steps=1,
    clip_norm=1.0,
):
    """AdamW on the warmup/decay schedule; no weight decay on biases and LayerNorm; gradients
    clipped to a global norm (BERT's 1.0).

    Args:
        learning_rate: float. Peak learning rate.
        total_steps: int. Steps of the whole run (the schedule reaches 0 there).
        warmup_steps: int. Linear warmup steps.
        weight_decay: float. Decoupled weight decay rate.
        learning_rate_multipliers: dict weight path -> factor on its step (weights not named
            take the scheduled step), or None/empty for plain AdamW.
        gradient_accumulation_steps: int. Batches averaged into one update (Keras's
            accumulation: the clipping sees the average; the schedule counts batches).
        clip_norm: float. The global norm gradients are clipped to; 0 for no clipping.
    """
    settings = dict(
        learning_rate=WarmupLinearDecay(learning_rate, total_steps, warmup_steps),
        weight_decay=weight_decay,
        epsilon=1e-6,
        global_clipnorm=clip_norm or None,
    )
    if gradient_accumulation_steps > 1:
        settings["gradient_accumulation_steps"] = gradient_accumulation_steps
    if learning_rate_multipliers:
        optimizer = ScaledAdamW(learning_rate_multipliers, **settings)
    else:
        optimizer = keras.optimizers.AdamW(**settings)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer
