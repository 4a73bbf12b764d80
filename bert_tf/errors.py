"""The one exception type for user mistakes, so scripts can report them without a traceback."""


class InputError(ValueError):
    """Bad input from the user: a file, a line, a flag or a bundle that is not what was expected.

    The message says where (file and line when one applies), what was found, what was expected
    and, where it helps, what to do. Scripts print it and exit with status 2.
    """


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the message says what survives."""
