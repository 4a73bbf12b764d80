"""Pretraining task registry: a name to a `PretrainingTask` subclass.

Adding a task: one file with a `PretrainingTask` subclass, one line below.
"""

from bert_tf.errors import InputError
from bert_tf.plugin_settings import constructor_arguments, plugin_settings
from bert_tf.tokenization import SpecialTokenIds
from pretrain_tasks.base import CORE_ARGUMENTS, PretrainingTask
from pretrain_tasks.masked_lm import MaskedLM
from pretrain_tasks.next_sentence import NextSentence
from pretrain_tasks.replaced_token_detection import ReplacedTokenDetection

TASKS = {
    MaskedLM.name: MaskedLM,
    NextSentence.name: NextSentence,
    ReplacedTokenDetection.name: ReplacedTokenDetection,
}


def get(name: str) -> type:
    """Returns the task class registered as `name`.

    Raises:
        InputError: if no task has that name (the message lists the known ones).
    """
    if name not in TASKS:
        raise InputError(f"unknown pretraining task {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[name]


def settings() -> dict:
    """Every registered task's own settings (constructor arguments the core does not set), as
    `PluginSetting`s by name: the command line offers each as a flag."""
    return plugin_settings(TASKS, excluded=CORE_ARGUMENTS)


def check_choice(names, loss_weights=None, task_settings=None) -> None:
    """Checks a choice of tasks and their options before any slow work starts.

    Args:
        names: list[str]. Registered task names, no repeats.
        loss_weights: dict[str, float] or None. Per-task loss weight (default 1).
        task_settings: dict or None. Settings given for the tasks (e.g. `mask_rate`).

    Raises:
        InputError: no, unknown or repeated names; two tasks that corrupt the input tokens;
            weights or settings for tasks not listed.
    """
    names = list(names)
    if not names:
        raise InputError("no pretraining task given; expected e.g. --tasks=masked_lm,next_sentence")
    if len(set(names)) != len(names):
        raise InputError(f"a pretraining task is listed twice: {names}")
    classes = [get(name) for name in names]
    corrupting = [cls.name for cls in classes if cls.corrupts_tokens]
    if len(corrupting) > 1:
        raise InputError(
            f"--tasks: {' and '.join(corrupting)} both corrupt the input tokens, so each would "
            "take the other's corruption for the text; use one of them"
        )
    unknown = set(loss_weights or {}) - set(names)
    if unknown:
        raise InputError(f"loss weights given for tasks not in --tasks: {sorted(unknown)}")
    known = settings()
    for setting in task_settings or {}:
        if setting not in known:
            raise InputError(f"no pretraining task takes a setting {setting!r}")
        if not any(setting in constructor_arguments(cls) for cls in classes):
            raise InputError(
                f"--{setting} is a setting of {', '.join(known[setting].owners)}, which "
                f"--tasks={','.join(names)} does not include"
            )


def build_tasks(
    names,
    vocabulary_size,
    max_seq_length,
    loss_weights=None,
    task_settings=None,
    special_ids=SpecialTokenIds(),
    continuation_ids=(),
):
    """Instantiates tasks by name, each with the settings it takes.

    Args:
        names: list[str]. Registered task names, no repeats.
        vocabulary_size: int.
        max_seq_length: int.
        loss_weights: dict[str, float] or None. Per-task loss weight (default 1).
        task_settings: dict or None. Given task settings; the others keep their defaults.
        special_ids: SpecialTokenIds. The vocabulary's (`Tokenizer.special_ids`).
        continuation_ids: sequence of int. The vocabulary's pieces that continue a word
            (`Tokenizer.continuation_ids`), given to the tasks that take them.

    Returns:
        list[PretrainingTask].

    Raises:
        InputError: see `check_choice`.
    """
    check_choice(names, loss_weights, task_settings)
    loss_weights, task_settings = dict(loss_weights or {}), dict(task_settings or {})
    tasks = []
    for name in names:
        cls = get(name)
        own = {k: v for k, v in task_settings.items() if k in constructor_arguments(cls)}
        if "continuation_ids" in constructor_arguments(cls):
            own["continuation_ids"] = tuple(continuation_ids)
        tasks.append(
            cls(
                vocabulary_size,
                max_seq_length,
                loss_weights.get(name, 1.0),
                special_ids=special_ids,
                **own,
            )
        )
    return tasks


__all__ = ["PretrainingTask", "TASKS", "get", "settings", "check_choice", "build_tasks"]
