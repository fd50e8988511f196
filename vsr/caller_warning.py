"""vsr's warnings, told as of the line of the host's code that called vsr.

A warning's file and line are what a host's filters (`filterwarnings(module=...)`) and its
reader go by, and the frames of vsr's own between that call and the warning vary with the
way it came (`load_model` then `Upscaler`: the emulation note named vsr/api.py). Each is a
VsrWarning, so that a host can filter them all, and the `vsr` command, whose own frames are
the only caller, still tells them apart from other libraries' (vsr.cli).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


class VsrWarning(UserWarning):
    """A warning of vsr's: an emulated precision, a failed compile, an out-of-memory retry."""


def warn_the_caller(message: str) -> None:
    """Warn `message` as a VsrWarning of the first line outside vsr on the stack."""
    level, frame = 1, sys._getframe(0)
    while frame is not None and _in_vsr(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, VsrWarning, stacklevel=level)


def _in_vsr(filename: str) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(_PACKAGE)
    except (OSError, ValueError):  # "<string>", "<frozen ...>": not a file, not vsr's
        return False
