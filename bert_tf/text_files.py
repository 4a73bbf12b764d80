"""Reading the user's text files (corpora, labeled files) with errors that say where and why."""

import codecs
import contextlib
import sys
from collections.abc import Iterator

from bert_tf.errors import InputError

STANDARD_INPUT = "-"


def read_text_lines(path: str, what: str) -> list[str]:
    """Read a UTF-8 text file into a list of lines.

    Corpora and labeled files come from many tools and editors, so LF and CRLF line ends and a
    leading byte-order mark are accepted, and the usual ways a file can be wrong become an
    InputError that names the file (and line) instead of a traceback deep inside training. Blank
    lines are kept so that list index + 1 is the line number in the file, for later messages.

    Args:
        path: str. The file to read.
        what: str. What the file is, in the user's words ("corpus", "train file"); used in
            messages.

    Returns:
        The lines in file order, without their line terminators.

    Raises:
        InputError: the file is missing, is a directory or cannot be read; it is empty or holds
            only blank lines; or it is not valid UTF-8 (the message gives line and byte column).
    """
    lines = list(stream_text_lines(path, what))
    if not lines:
        raise InputError(f"{path}: the {what} is empty (0 bytes)")
    if not any(line.strip() for line in lines):
        raise InputError(f"{path}: the {what} holds only blank lines")
    return lines


def stream_text_lines(path: str, what: str) -> Iterator[str]:
    """The lines of a UTF-8 text file (or of standard input, for `-`), decoded one at a time as
    they are read, so a command can answer each line before the input ends.

    The file is opened here, so a missing file is an InputError at once; a bad byte is an
    InputError naming its line when that line is reached. Line ends and a leading BOM are
    handled as in `read_text_lines`.

    Raises:
        InputError: the file is missing, is a directory or cannot be read.
    """
    if path == STANDARD_INPUT:
        return _decoded_lines(contextlib.nullcontext(sys.stdin.buffer), "<stdin>", what)
    return _decoded_lines(open_text_file(path, what), path, what)


def open_text_file(path: str, what: str):
    """Opens a user's text file for binary reading.

    Raises:
        InputError: the file is missing, is a directory or cannot be read.
    """
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(
            f"{path}: {what} not found (check the path given in the flag for the {what})"
        ) from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected the {what} as a text file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read the {what}: {e.strerror or e}") from None


def _decoded_lines(stream, name: str, what: str) -> Iterator[str]:
    # Decoding line by line (not the whole file) makes the line number of a bad byte exact for
    # free; binary iteration splits only on b"\n", at any line length.
    with stream as f:
        for number, raw in enumerate(f, start=1):
            yield decode_line(raw, number, name, what)


def decode_line(raw: bytes, number: int, path: str, what: str) -> str:
    """Strips the line terminator (and a leading BOM on line 1) and decodes as strict UTF-8.

    Raises:
        InputError: naming the file, the line and the byte column of an invalid byte.
    """
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    bom_length = 0
    if number == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
        bom_length = len(codecs.BOM_UTF8)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        # Columns count bytes as stored in the file, BOM included, so a hex editor agrees.
        column = e.start + 1 + bom_length
        raise InputError(
            f"{path}:{number}: invalid UTF-8 at byte column {column} (byte 0x{raw[e.start]:02x}); "
            f"the {what} must be UTF-8 text (convert it, e.g. "
            f"`iconv -f latin1 -t utf-8 {path} > converted.txt`)"
        ) from None
