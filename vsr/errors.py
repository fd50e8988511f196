"""The one exception type a user sees: the command line prints its message on one line."""

from __future__ import annotations

import contextlib
import errno
import re
from collections.abc import Iterator
from pathlib import Path

from vsr.shared_change import SharedChange

# A disk that takes nothing more: full, over quota or read-only. The machine's state, not
# one input's fault: work over many inputs stops at it instead of failing every one after.
OUT_OF_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def is_out_of_space(error: BaseException) -> bool:
    """Whether `error` is a write refused because the disk takes nothing more."""
    return isinstance(error, OSError) and error.errno in OUT_OF_SPACE_ERRNOS


class VsrError(Exception):
    """A problem with the user's input or environment (bad file, bad flag, missing weights).

    Raise it with a message that says what was wrong and, where possible, what to do.
    The command line prints it as ``vsr: error: <message>`` and exits with status 2;
    library callers catch it like any exception.
    """


class VsrTypeError(VsrError, TypeError):
    """An argument of the wrong type given to the API (bytes for a path, "no" for a bool):
    a VsrError, as the API's docs promise for a user mistake, and a TypeError, as Python
    code expects of a wrong type; `except` either catches it."""


# Whom messages speak to: vsr.cli.main sets this while it runs. The command line and the
# API share the checks below them; a message names an option as its reader gave it.
_to_the_command_line = False


def _speak_to_the_command_line() -> bool:
    global _to_the_command_line
    before, _to_the_command_line = _to_the_command_line, True
    return before


def _speak_as_before(before: bool) -> None:
    global _to_the_command_line
    _to_the_command_line = before


# Commands run at once on threads of one process (vsr.cli.main) overlap: the first one in
# speaks to the command line, the last one out puts back what was before. Each putting
# back its own saved value let the first to finish turn the others' words into keywords.
_COMMAND_LINE = SharedChange(_speak_to_the_command_line, _speak_as_before)


@contextlib.contextmanager
def speaking_to_the_command_line(speaking: bool = True) -> Iterator[None]:
    """Within it, option() names flags ("--resume"); outside, the API's keywords. A Ray
    worker's process does not share this flag: its task is given `speaking` as the driver
    had it (to_the_command_line()), since its errors and notes reach the driver's reader;
    False leaves the worker as it is."""
    if not speaking:
        yield
        return
    with _COMMAND_LINE:
        yield


def to_the_command_line() -> bool:
    """Whether messages now speak to the command line (vsr.cli.main is running)."""
    return _to_the_command_line


def option(
    flag: str, value: object = None, *, metavar: str | None = None, setting: bool = False
) -> str:
    """An option as its reader gave it: on the command line the flag ("--input-rate",
    "--resume", "--device cpu"), to an API caller the keyword ("input_rate",
    "resume=True", "device='cpu'", "compile=False" for --no-compile), who passed no flags
    and would have to guess the keyword from one.

    `metavar` names the value a flag wants where none is given ("--input-rate RATE"); the
    keyword stands alone. A `setting` is a field of vsr.video.writer.EncodeSettings
    (--preset, --codec, --pix-fmt), which the API takes inside its `settings` argument, not
    as a keyword of its own: "settings=EncodeSettings(preset=...)"."""
    if _to_the_command_line:
        if value is None:
            return flag if metavar is None else f"{flag} {metavar}"
        return flag if isinstance(value, bool) else f"{flag} {value}"
    if flag == "-e" and value is not None:  # -e KEY=VALUE: an item of the settings' options
        key, _, given = str(value).partition("=")
        return f"settings=EncodeSettings(options={{{key!r}: {given!r}}})"
    keyword = flag.removeprefix("--").removeprefix("no-").replace("-", "_")
    if setting:
        return f"settings=EncodeSettings({keyword}={'...' if value is None else repr(value)})"
    return keyword if value is None else f"{keyword}={value!r}"


def empty_value(name: str, instead: str) -> str:
    """What to say of an option given as an empty string: `--out "$DIR"` with DIR unset
    reads as "" and, taken as a value, names the working folder or stands for the default
    without a word. `instead` says what to give."""
    return f"{name} is empty (an unset variable?); {instead}"


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def first_line(error: BaseException, limit: int = 160) -> str:
    """A library's message as one short plain line (torch's carry ANSI bold and paragraphs;
    a KeyError's is just the key, so its type says more), cut to ``limit`` characters."""
    text = _ANSI_ESCAPE.sub("", str(error)).strip()
    if not text or isinstance(error, KeyError):
        return type(error).__name__
    line = text.splitlines()[0]
    return line if len(line) <= limit else line[: limit - 3] + "..."


def describe_error(error: BaseException) -> str:
    """One line for a failure among many (a clip or an image of a folder): a VsrError's own
    message, anything else's type too, since its message alone may be a bare key or path;
    a system error names its file as the user knows it (as_the_user_names_it)."""
    if isinstance(error, VsrError):
        return str(error)
    if isinstance(error, OSError) and error.strerror and error.filename:
        where = as_the_user_names_it(str(error.filename))
        return f"{type(error).__name__}: {error.strerror}: {where}"
    return f"{type(error).__name__}: {error}"


def as_the_user_names_it(filename: str) -> str:
    """A file as the user knows it: libav names files by URL (file:out/x.mp4), and an
    output by its temporary file (out/.x.123.tmp.mp4)."""
    from vsr.video.writer import output_of_temp  # not at import: the writer pulls in av

    path = Path(filename.removeprefix("file:"))
    return str(output_of_temp(path) or path)
