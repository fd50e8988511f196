"""Stopping a training run cleanly on Ctrl-C (SIGINT), SIGTERM or SIGHUP (vsr.stop_signals).

Without this, the signal raises KeyboardInterrupt wherever the loop happens to be, and the
run loses every step since its last periodic checkpoint (save_every, 500 by default). While
the loop runs, the first signal only asks it to stop: it finishes the step, writes last.pt,
and then raises KeyboardInterrupt, so `--resume` continues from exactly that step. A second
signal stops at once, as before.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from types import FrameType
from typing import Any

from vsr.stop_signals import HANGUP, STOP_SIGNALS, heeded, leave_a_closed_terminal

_STOPPING = (
    "vsr: stopping once the current step (or validation) is done, to save last.pt; "
    "Ctrl-C again stops at once, without it"
)


class StopRequest:
    """A context manager that turns the first SIGINT, SIGTERM or SIGHUP into
    ``requested = True``.

    Signal handlers can only be set from the main thread; elsewhere (a training run started
    from a worker thread) the signals keep their usual handlers.
    """

    def __init__(self) -> None:
        self.requested = False
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

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if number == HANGUP:
            leave_a_closed_terminal()  # the step's log lines must not fail it
        if self.requested:
            raise KeyboardInterrupt  # asked twice: stop now, without the checkpoint
        self.requested = True
        # Said at once: a step, or a validation on a CPU, may take a while, and silence
        # reads as a hang that a second Ctrl-C then "fixes" by losing the checkpoint.
        with contextlib.suppress(OSError, RuntimeError):  # RuntimeError: inside a print
            print(_STOPPING, file=sys.stderr, flush=True)
