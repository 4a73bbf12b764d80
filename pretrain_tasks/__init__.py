"""Pretraining task registry: a name to a `PretrainingTask` subclass.

Adding a task: one file with a `PretrainingTask` subclass, one line below.
"""

from bert_tf.errors import InputError
from pretrain_tasks.base import PretrainingTask
from pretrain_tasks.masked_lm import MaskedLM
from pretrain_tasks.next_sentence import NextSentence

TASKS = {
    MaskedLM.name: MaskedLM,
    NextSentence.name: NextSentence,
}


def get(name: str) -> type:
    """Returns the task class registered as `name`.

    Raises:
        InputError: if no task has that name (the message lists the known ones).
    """
    if name not in TASKS:
        raise InputError(f"unknown pretraining task {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[name]


def build_tasks(names, vocabulary_size, max_seq_length, loss_weights=None, **settings):
    """Instantiates tasks by name.

    Args:
        names: list[str]. Registered task names, no repeats.
        vocabulary_size: int.
        max_seq_length: int.
        loss_weights: dict[str, float] or None. Per-task loss weight (default 1).
        **settings: run settings passed to every task; each takes the ones it uses.

    Returns:
        list[PretrainingTask].

    Raises:
        InputError: unknown or repeated names, or weights for tasks not listed.
    """
    names = list(names)
    if not names:
        raise InputError("no pretraining task given; expected e.g. --tasks=masked_lm,next_sentence")
    if len(set(names)) != len(names):
        raise InputError(f"a pretraining task is listed twice: {names}")
    loss_weights = dict(loss_weights or {})
    unknown = set(loss_weights) - set(names)
    if unknown:
        raise InputError(f"loss weights given for tasks not in --tasks: {sorted(unknown)}")
    return [
        get(name)(vocabulary_size, max_seq_length, loss_weights.get(name, 1.0), **settings)
        for name in names
    ]


__all__ = ["PretrainingTask", "TASKS", "get", "build_tasks"]
