"""The `vsr` command: a thin layer over the Python API.

Each subcommand lives in ``vsr/commands/<name>.py`` and exposes ``add_parser(subparsers)``
which registers its arguments and sets ``func`` (a callable taking the parsed namespace and
returning an exit status). Nothing in the package imports this module.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import importlib
import logging
import os
import re
import shlex
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import NoReturn

from vsr import __version__
from vsr.caller_warning import VsrWarning
from vsr.errors import (
    OUT_OF_SPACE_ERRNOS,
    VsrError,
    as_the_user_names_it,
    empty_value,
    first_line,
    speaking_to_the_command_line,
)
from vsr.printable import printable
from vsr.shared_change import SharedChange
from vsr.shown_warnings import forget, remember
from vsr.stop_signals import (
    HANGUP,
    STOP_SIGNALS,
    StopSignal,
    heeded,
    leave_a_closed_terminal,
    point_at_devnull,
    stopped_by,
)

# The order here is the order in `vsr --help`.
COMMANDS = ["run", "image", "eval", "train", "weights", "bench", "profile", "viz", "report"]


class _UsageError(Exception):
    """A mistake on the command line, found by argparse."""


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake on the command line ends like every other user mistake: one
    line, `vsr: error: ...` and where to look (argparse prints the whole usage first, and
    the error is lost below it). The subcommands' parsers are of this class too.

    An option is known by its whole name only: argparse's shortened names took
    `vsr bench --size` for --sizes, and a new option would make a short name typed in a
    script ambiguous."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - argparse's
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        wanted = re.fullmatch(r"argument (\S+): expected one argument", message)
        if wanted:
            message += self._dash_value_hint(wanted.group(1).split("/"))
        if message.startswith("the following arguments are required"):
            # `vsr run -dash.mp4 out.mp4`: argparse took the file for an option and named
            # the output as missing; the word it could not place is the mistake.
            taken = self._taken_for_options()
            if taken:
                words = getattr(self, "_words", [])
                message = _unrecognized(taken, self._offered_options(), words)
            else:
                message += self._optional_value_hint() + self._commands_hint(message)
        raise _UsageError(f"{message} (see: {self.prog} --help)")

    def _taken_for_options(self) -> list[str]:
        """The words before any `--` that argparse read as options this parser does not
        have (a file named -dash.mp4, a misspelt --qiet)."""
        words = getattr(self, "_words", [])
        before = words[: words.index("--")] if "--" in words else words
        return [
            word
            for word in before
            if word.startswith("-")
            and not self._negative_number_matcher.match(word)  # a value, as argparse takes it
            and not self._has_option(word)
        ]

    def _offered_options(self) -> list[str]:
        """The options a misspelt one may be taken for: not those kept out of --help."""
        actions = self._option_string_actions.items()
        return sorted(name for name, action in actions if action.help != argparse.SUPPRESS)

    def _has_option(self, word: str) -> bool:
        """Whether argparse reads `word` as one of this parser's options: its name,
        name=value, or a short option with its value joined (-efoo)."""
        options = self._option_string_actions
        if word.split("=")[0] in options:
            return True
        return not word.startswith("--") and word[:2] in options

    def _commands_hint(self, message: str) -> str:
        """` (run, image, ...)` where the command (or `vsr weights`' action) is what is
        missing: bare `vsr` printed its usage on stdout, with nothing on stderr."""
        missing = message.partition(": ")[2].split(", ")
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and action.metavar in missing:
                return f" ({', '.join(action.choices)})"
        return ""

    def _optional_value_hint(self) -> str:
        """`vsr run --ray in.mp4 out.mp4`: an option whose value may be left out (--ray
        [ADDRESS]) took the next word for its value, and argparse named the output as
        missing; say what it took and how to give it without a value."""
        words = getattr(self, "_words", [])
        before = words[: words.index("--")] if "--" in words else words
        for word, after in zip(before, before[1:], strict=False):
            action = self._option_string_actions.get(word)
            if action is not None and action.nargs == argparse.OPTIONAL and after[:1] != "-":
                value = action.metavar or action.dest.upper()
                return (
                    f" ({word} took '{after}' as its {value}; write {word}={value}, or put "
                    f"{word} last)"
                )
        return ""

    def _dash_value_hint(self, names: list[str]) -> str:
        """argparse takes a value that starts with '-' (`--size -5x10`) for an option and
        says the value is missing; say how to give it."""
        words = getattr(self, "_words", [])
        for word, after in zip(words, words[1:], strict=False):
            option = after.split("=")[0] in self._option_string_actions  # really missing
            if word in names and after.startswith("-") and not option:
                return f" ('{after}' looks like an option; write {word}={after})"
        return ""

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> object:
        # An option's value given as "" is `--size "$SIZE"` with SIZE unset: taken, it stood
        # for the default (`args.size or ...`) or named the working folder, without a word.
        # Refused here, for every option of every command, before any command's own code;
        # so is an empty file argument, which named the working folder (`vsr run in.mp4
        # "$OUT"` wrote ./in.mp4).
        # A (sub)command's arguments reach its own parser, which checks them.
        own = (
            arg_strings[:1]
            if action.nargs in (argparse.PARSER, argparse.REMAINDER)
            else arg_strings
        )
        if "" in own:
            self.error(_empty_option(action) if action.option_strings else _empty_argument(action))
        if isinstance(action, argparse._StoreAction) and action.option_strings:
            # `--crf 20 --crf 30`: argparse keeps the last without a word. The same value
            # twice is no conflict (a script adding a flag the user also gave); options that
            # gather their values (-e KEY=VALUE) are no _StoreAction and repeat freely.
            first = self._given.setdefault(action.dest, arg_strings)
            if first != arg_strings:
                name = max(action.option_strings, key=len)
                self.error(
                    f"{name} {shlex.join(first)} and {name} {shlex.join(arg_strings)}: "
                    f"give {name} once"
                )
        return super()._get_values(action, arg_strings)

    def parse_known_args(self, args=None, namespace=None):  # noqa: ANN001, ANN201 - argparse's
        # The innermost (sub)command parsed names itself first: the help to point at for
        # arguments nobody took ("vsr weights export", not "vsr").
        self._words = list(sys.argv[1:] if args is None else args)  # for error()
        self._given: dict[str, list[str]] = {}  # each option's value strings, as first given
        parsed, unknown = super().parse_known_args(args, namespace)
        if not hasattr(parsed, "help_of"):
            parsed.help_of = self.prog
            parsed.options_of = self._offered_options()  # for a misspelt one
        return parsed, unknown


def _empty_option(action: argparse.Action) -> str:
    """What to say of an option given an empty value: its long name, and what it takes."""
    name = max(action.option_strings, key=len)
    if action.choices:
        instead = f"give one of {', '.join(map(str, action.choices))}"
    else:
        instead = "give it a value"
    return empty_value(name, instead if action.required else f"{instead}, or leave it out")


def _empty_argument(action: argparse.Action) -> str:
    """What to say of a positional argument given as an empty string."""
    name = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    return empty_value(name, "give it a value")


def _unrecognized(unknown: list[str], options: list[str], words: list[str]) -> str:
    """What to say of the words `unknown` that no argument of the command took, `words`
    being all it was given and `options` its options: a file whose name starts with '-' is
    told how to give it, and an option typed after `--` where it goes."""
    after_dashes = words[words.index("--") + 1 :] if "--" in words else []
    for word in unknown:
        if word.startswith("-") and word not in after_dashes and _named_like_a_file(word):
            return f"'{word}' looks like an option; write ./{word}, or put it after --"
    return f"unrecognized arguments: {shlex.join(unknown)}{_meant(unknown, options, after_dashes)}"


def _named_like_a_file(word: str) -> bool:
    """Whether `word` is rather a file's name than an option's: it names a folder, has a
    type's suffix (.mp4, not the .5 of --sclae=1.5) or is a file here."""
    suffix = re.fullmatch(r"\.[A-Za-z]\w*", Path(word).suffix)
    return "/" in word or suffix is not None or os.path.lexists(word)


def _an_option_after_dashes(word: str, options: list[str]) -> bool:
    """Whether `word`, typed after `--`, was meant as an option: one of the command's, or
    a word such as --quite that is no file's name."""
    return word.split("=")[0] in options or (word.startswith("--") and not _named_like_a_file(word))


def _meant(unknown: list[str], options: list[str], after_dashes: list[str]) -> str:
    """ "; did you mean --scale?" for an option misspelt as --scales, where one of the
    command's options is near enough to be what was meant; never the option typed, which
    is unknown only after `--`, where every word is a file's name."""
    if any(_an_option_after_dashes(word, options) for word in after_dashes):
        return "; options go before -- (after it, every word is a file name)"
    near = []
    for word in unknown:
        name = word.split("=")[0]
        if word.startswith("--"):
            others = [option for option in options if option != name]
            near += difflib.get_close_matches(name, others, n=1, cutoff=0.75)
    return f"; did you mean {' and '.join(dict.fromkeys(near))}?" if near else ""


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="vsr", description="Video and image super-resolution with IMDN.")
    parser.add_argument("--version", action="version", version=f"vsr {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"vsr.commands.{name}").add_parser(subparsers)
    return parser


_PACKAGE = Path(__file__).resolve().parent


def _from_torch(filename: str) -> bool:
    """Whether a warning's file is torch's (imported by then, as it gave the warning)."""
    torch = sys.modules.get("torch")
    where = getattr(torch, "__file__", None)
    return where is not None and Path(filename).resolve().is_relative_to(Path(where).parent)


def _under_torch() -> bool:
    """Whether torch's code is running below the warning being shown: a warning's file is
    where its stacklevel points, which may be past torch. pytree's LeafSpec note, given by
    typing_extensions' deprecated() as copy.deepcopy rebuilt a spec in a --compile run,
    named copyreg.py, and was printed."""
    frame = sys._getframe(1)
    while frame is not None:
        if _from_torch(frame.f_code.co_filename):
            return True
        frame = frame.f_back
    return False


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """vsr's own warnings (a failed compile, an out-of-memory retry) as one plain line;
    other libraries' keep Python's form, which says where they came from. Written through
    tqdm, so that a progress bar on the screen is redrawn below the line, not broken."""
    from tqdm import tqdm

    if category.__name__ == "DecompressionBombWarning":
        # Pillow's word on any image over 89 million pixels (a 12000x8000 scan), aimed at
        # files from strangers: here it is the user's own picture, whose memory vsr checks
        # before upscaling it. By name: importing Pillow would slow every command's start.
        return
    if issubclass(category, (FutureWarning, DeprecationWarning)) and (
        _from_torch(filename) or _under_torch()
    ):
        return  # torch's notes to its own users of what it will change: not the user's
    if issubclass(category, VsrWarning) or Path(filename).resolve().is_relative_to(_PACKAGE):
        text = f"vsr: warning: {message}"
        remember(str(message))  # its note of the same text is then not printed again
    else:
        text = warnings.formatwarning(message, category, filename, lineno, line).rstrip("\n")
    tqdm.write(text, file=file or sys.stderr)


def _terminate(signum: int, frame: object) -> None:
    if signum == HANGUP:
        leave_a_closed_terminal()
    # Unwind like Ctrl-C so that writers remove their temporary files on the way out.
    raise StopSignal(signum)


def _stop_like_ctrl_c() -> dict[int, object]:
    """Point the stop signals (vsr.stop_signals) at _terminate; returns the handlers to put
    back."""
    return {number: signal.signal(number, _terminate) for number in heeded(STOP_SIGNALS)}


# Errors of the machine rather than of vsr, told in one line like a user's mistake.
# A name too long for the file system is the user's to shorten, not a bug: it ended in a
# traceback from the first look at the path (130 accented characters are 260 bytes).
_MACHINE_ERRNOS = OUT_OF_SPACE_ERRNOS | {errno.EACCES, errno.EPERM, errno.EFBIG, errno.ENAMETOOLONG}


def _print_notes(error: BaseException) -> None:
    """What the code that failed added for the user (e.g. where finished work is kept)."""
    for note in getattr(error, "__notes__", ()):
        print(printable(f"vsr: {note}"), file=sys.stderr)


def _give_closed_streams_a_sink() -> None:
    """Started with stderr (or stdout) closed (`2>&-`, some daemons): Python sets the stream
    to None, and the descriptor is free, so the next file opened (an output!) would get it
    and receive whatever ffmpeg or x264 write to fd 2. Point both at /dev/null instead."""
    for name, fd in (("stdout", 1), ("stderr", 2)):
        if getattr(sys, name) is None:
            point_at_devnull(fd)
            setattr(sys, name, open(fd, "w", closefd=False))  # noqa: SIM115 - for the process


def _print_progress_lines() -> tuple[logging.Handler, int, bool]:
    """The progress lines of a run whose stderr is a log file (logger "vsr.progress")
    printed to stderr as they are; a program that calls the API configures logging itself
    instead. vsr's other loggers (debugging) stay off. Returns what undoes it."""
    logger = logging.getLogger("vsr.progress")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = handler, logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # not twice, should the caller log to stderr too
    return saved


def _stop_printing_progress_lines(saved: tuple[logging.Handler, int, bool]) -> None:
    logger = logging.getLogger("vsr.progress")
    handler, level, logger.propagate = saved
    logger.removeHandler(handler)
    logger.setLevel(level)  # not by assignment: the logger caches its level checks


# For each command; commands run at once on threads of one process share one handler (a
# handler each printed every line once per command).
_PROGRESS_TO_STDERR = SharedChange(_print_progress_lines, _stop_printing_progress_lines)


def main(argv: list[str] | None = None) -> int:
    _give_closed_streams_a_sink()
    try:
        # Imports every command's module: seconds on a loaded machine, in which a Ctrl-C
        # printed a traceback of the imports.
        parser = build_parser()
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            typed = sys.argv[1:] if argv is None else argv
            said = _unrecognized(unknown, args.options_of, typed)
            raise _UsageError(f"{said} (see: {args.help_of} --help)")
    except _UsageError as error:
        print(printable(f"vsr: error: {error}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # nothing started yet: nothing to say but that
        print("vsr: interrupted", file=sys.stderr)
        return 130
    # The command as typed, for the reports that should say how they were made.
    args.command_line = shlex.join(["vsr", *(sys.argv[1:] if argv is None else argv)])
    forget()  # an earlier main() of this process printed its own warnings
    shown_before, warnings.showwarning = warnings.showwarning, _show_warning
    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread:
        handlers_before = _stop_like_ctrl_c()
    try:
        with _PROGRESS_TO_STDERR, speaking_to_the_command_line():
            return int(args.func(args) or 0)
    except VsrError as error:
        print(printable(f"vsr: error: {error}"), file=sys.stderr)
        _print_notes(error)
        return 2
    except KeyboardInterrupt as error:
        reason = stopped_by(error)
        print("vsr: interrupted" + ("" if reason == "Ctrl-C" else f" by {reason}"), file=sys.stderr)
        _print_notes(error)
        return 130
    except BrokenPipeError:
        # `vsr weights list | head -1`: the reader has all it wanted. Python would print a
        # traceback, and another at exit when it flushes stdout: point stdout at /dev/null.
        point_at_devnull(sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except RuntimeError as error:
        if not _out_of_gpu_memory(error):
            raise
        # Where no part of vsr turned it into its own error (the network's windows halve,
        # the video engine names its batch): `vsr image`, eval, profile... on a full GPU.
        print(
            printable(
                f"vsr: error: the GPU ran out of memory ({first_line(error)}); free GPU "
                "memory (another process may hold it), or run on the CPU with --device cpu"
            ),
            file=sys.stderr,
        )
        return 2
    except OSError as error:
        if error.errno not in _MACHINE_ERRNOS:
            raise
        # A full disk or a folder vsr may not write to: the machine's state, not a bug.
        where = f"{as_the_user_names_it(str(error.filename))}: " if error.filename else ""
        why = error.strerror or str(error)
        if error.errno == errno.EFBIG:
            why += " (more than the file system or a size limit allows: FAT32 holds 4 GiB)"
        if error.errno == errno.ENAMETOOLONG:
            why += " (a file or folder name holds at most 255 bytes, 2 to 4 a non-ASCII letter)"
        print(printable(f"vsr: error: {where}{why}"), file=sys.stderr)
        _print_notes(error)
        return 2
    finally:
        # main() may be called from Python (tests, scripts), and a SIGTERM that arrives
        # while the interpreter shuts down must not meet _terminate: put them all back.
        warnings.showwarning = shown_before
        if on_main_thread:
            for number, handler in handlers_before.items():
                # None: a handler set outside Python, which cannot be put back.
                signal.signal(number, signal.SIG_DFL if handler is None else handler)


def _out_of_gpu_memory(error: RuntimeError) -> bool:
    """Whether `error` is torch's out-of-memory error of a GPU; torch is not imported for
    the question (a command that never loaded it cannot have raised it)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(error, torch.OutOfMemoryError)


if __name__ == "__main__":
    sys.exit(main())
