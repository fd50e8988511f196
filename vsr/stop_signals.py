"""The signals that stop vsr as Ctrl-C does, and the closed terminal that SIGHUP leaves.

A job scheduler's pre-emption (SIGTERM), and a closed terminal or SSH session (SIGHUP),
whose default ended vsr on the spot: its temporary output and build folder were left behind,
with no summary and no --report. The `vsr` command turns both into KeyboardInterrupt
(vsr.cli), and a training run saves its step on them as on Ctrl-C (vsr.train.interrupt).
"""

from __future__ import annotations

import os
import signal

# SIGHUP where the system has it (Windows has none).
HANGUP = getattr(signal, "SIGHUP", None)
STOP_SIGNALS = tuple(number for number in (signal.SIGTERM, HANGUP) if number is not None)


class StopSignal(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGHUP) unwinding as Ctrl-C does, which still says which it
    was: a folder's report read "stopped by Ctrl-C" after a scheduler's SIGTERM."""

    def __init__(self, number: int) -> None:
        super().__init__(signal.Signals(number).name)
        self.number = number


def stopped_by(interruption: KeyboardInterrupt) -> str:
    """ "Ctrl-C", or the stop signal's name ("SIGTERM")."""
    return interruption.args[0] if isinstance(interruption, StopSignal) else "Ctrl-C"


def heeded(numbers: tuple[int, ...]) -> list[int]:
    """Those of ``numbers`` the process was not started ignoring: `nohup vsr run ...` asks
    vsr to outlive its terminal, and a handler of ours would undo that."""
    return [number for number in numbers if signal.getsignal(number) is not signal.SIG_IGN]


def leave_a_closed_terminal() -> None:
    """Called on SIGHUP. A closed terminal fails every write with EIO: "vsr: interrupted",
    a folder's summary and the progress bar's last redraw each raised one on the way out,
    which ended vsr in a traceback nobody saw (exit 1). Where stdout or stderr is such a
    terminal, it is pointed at /dev/null; a log file or a terminal still open keeps the
    lines."""
    for fd in (1, 2):
        try:
            os.write(fd, b"")  # fails on a terminal that hung up, and only there
        except OSError:
            point_at_devnull(fd)


def point_at_devnull(fd: int) -> None:
    """Descriptor ``fd`` writes to /dev/null from now on."""
    sink = os.open(os.devnull, os.O_WRONLY)
    if sink != fd:
        os.dup2(sink, fd)
        os.close(sink)
