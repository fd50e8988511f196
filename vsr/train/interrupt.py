"""Stopping a training run cleanly on Ctrl-C (SIGINT), SIGTERM or SIGHUP (vsr.stop_signals).

Without this, the signal raises KeyboardInterrupt wherever the loop happens to be, and the
run loses every step since its last periodic checkpoint (save_every, 500 by default). While
the loop runs, the first signal only asks it to stop: it finishes the step, writes last.pt,
and then raises KeyboardInterrupt (a StopSignal for SIGTERM or SIGHUP, which the `vsr`
command names), so `--resume` continues from exactly that step. A second signal stops at
once, as before.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from types import FrameType
from typing import Any

from vsr.stop_signals import (
    HANGUP,
    STOP_SIGNALS,
    StopSignal,
    heeded,
    leave_a_closed_terminal,
    stopped_by,
)

_STOPPING = (
    "vsr: stopping once the current step (or validation) is done, to save last.pt; "
    "{signal} again stops at once, without it"
)


class StopRequest:
    """A context manager that turns the first SIGINT, SIGTERM or SIGHUP into
    ``requested = True``.

    Signal handlers can only be set from the main thread; elsewhere (a training run started
    from a worker thread) the signals keep their usual handlers.
    """

    def __init__(self) -> None:
        self.requested = False
        # The signal that asked; Ctrl-C's where none came here (a DDP run another rank stopped).
        self._asked_by: int = signal.SIGINT
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for number in heeded((signal.SIGINT, *STOP_SIGNALS)):
                self._previous[number] = signal.getsignal(number)
                signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            # None: a handler set outside Python, which cannot be put back; use the default.
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()

    def interruption(self) -> KeyboardInterrupt:
        """What the run raises once it has stopped: the signal that asked, which the `vsr`
        command names ("vsr: interrupted by SIGTERM"; it said "interrupted" alone)."""
        return _interruption(self._asked_by)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if number == HANGUP:
            leave_a_closed_terminal()  # the step's log lines must not fail it
        if self.requested:
            raise _interruption(number)  # asked twice: stop now, without the checkpoint
        self.requested = True
        self._asked_by = number
        # Said at once: a step, or a validation on a CPU, may take a while, and silence
        # reads as a hang that a second Ctrl-C then "fixes" by losing the checkpoint.
        again = stopped_by(_interruption(number))  # not "Ctrl-C" after a SIGTERM
        with contextlib.suppress(OSError, RuntimeError):  # RuntimeError: inside a print
            print(_STOPPING.format(signal=again), file=sys.stderr, flush=True)


def _interruption(number: int) -> KeyboardInterrupt:
    return StopSignal(number) if number in STOP_SIGNALS else KeyboardInterrupt()
