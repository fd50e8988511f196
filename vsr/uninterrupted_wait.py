"""Waiting for a worker thread to finish, through Ctrl-C and stop signals.

Python 3.11's Thread.join, interrupted by a KeyboardInterrupt, takes the thread for ended
while it still runs, and every later join returns at once. Code that must see a worker
finish (a folder's clip being renamed into place, a reader the engine's decode thread is
still inside) has the worker set an event when it is done, and waits on that instead,
holding any interruption until then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def setting_when_done(work: Callable[..., None], finished: threading.Event) -> Callable[..., None]:
    """`work`, which sets `finished` however it ends: a thread's target."""

    def run(*args: object) -> None:
        try:
            work(*args)
        finally:
            finished.set()

    return run


def wait_through_interruptions(finished: threading.Event) -> KeyboardInterrupt | None:
    """Wait until `finished` is set; the first KeyboardInterrupt (or stop signal, which vsr
    raises as one) that came meanwhile, for the caller to raise or drop."""
    interruption: KeyboardInterrupt | None = None
    while not finished.is_set():
        try:
            finished.wait()
        except KeyboardInterrupt as again:
            interruption = interruption or again
    return interruption
