"""What the API's arguments must be, checked before any work: a wrong type is a
VsrTypeError that names what was given and what is taken, where it would otherwise surface
as a confusing error deep inside (pathlib's TypeError for bytes, "an array of shape ()" for
a file name given as bytes) or pass unnoticed (channels_last="no" is truthy)."""

from __future__ import annotations

import numbers
import os
import re
from pathlib import Path

import numpy as np

from vsr.errors import VsrTypeError


def given(value: object) -> str:
    """A wrong value for a message: its type, and the value where it is short."""
    if value is None:
        return "None"
    kind = type(value).__name__
    # object's own repr adds only where the value lies in memory ("<m.P object at 0x7f...>"),
    # which tells the reader nothing the type's name does not, and differs on every run.
    if type(value).__repr__ is object.__repr__:
        return kind
    shown = repr(value)
    if re.fullmatch(r"<[^<>]* at 0x[0-9a-fA-F]+>", shown):  # memoryview's "<memory at 0x7f...>"
        return kind
    return f"{kind} {shown}" if len(shown) <= 60 and shown != kind else kind


def is_number(value: object) -> bool:
    """A real number, not a bool (True is an int to Python, never a count or a scale)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_whole(value: object) -> bool:
    """A whole number (numpy's included), not a bool and not a whole-valued float."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_str_path(value: object) -> bool:
    """Whether `value` is a str or an os.PathLike of one (what pathlib takes). A PathLike
    that gives bytes, or anything else, is not: os.fspath says so with a bare TypeError."""
    if not isinstance(value, str | os.PathLike):
        return False
    try:
        return isinstance(os.fspath(value), str)
    except TypeError:  # a __fspath__ that returns neither str nor bytes
        return False


def check_path(value: object, name: str) -> Path:
    """`value` as a Path, if it is a str or an os.PathLike of one. A bytes path is refused,
    not decoded: pathlib takes none, and the command line never gives one."""
    if is_str_path(value):
        return Path(value)  # type: ignore[arg-type]
    raise VsrTypeError(f"{name} must be a path (str or os.PathLike), not {given(value)}")


def check_switch(value: object, name: str) -> bool:
    """`value` if it is True or False (numpy's bools too): any other value's truth ("no",
    0, None) would decide a switch the caller did not mean to set."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise VsrTypeError(f"{name} must be True or False, not {given(value)}")


def check_compile(value: object) -> bool | str:
    """`compile` is a switch, or a mode's name ("auto", "kept", a torch.compile mode)."""
    if isinstance(value, str | bool | np.bool_):
        # A str subclass (numpy's str_) as the plain str it stands for: its repr,
        # "np.str_('bogus')", is not what the caller wrote in a message naming a bad mode.
        return str(value) if isinstance(value, str) else bool(value)
    raise VsrTypeError(
        f'compile must be True, False or a mode ("auto", "kept", a torch.compile mode), '
        f"not {given(value)}"
    )


def check_pixels_type(value: object, name: str, what: str) -> None:
    """Pixels must be something numpy reads as an array of them (an ndarray, a tensor
    brought to the host, a PIL image, nested lists); a scalar, None or bytes would be read
    as an array of shape (), and refused for its shape instead of its type."""
    try:
        scalar = not isinstance(value, np.ndarray) and np.ndim(value) == 0
    except ValueError:  # lists of frames of different sizes: refused for that by the caller
        scalar = False
    except OSError:  # a Pillow image whose file fails to load: the caller's reading says so
        scalar = False
    if scalar or isinstance(value, bytes | bytearray | memoryview):
        raise VsrTypeError(f"{name} must be {what}, not {given(value)}")
