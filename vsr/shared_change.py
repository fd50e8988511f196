"""A change to process-wide state that overlapping users share (threads of one process).

libav's log level and a logger's handlers are the process's, not a thread's: if each user
saved the state, changed it and put its own saved copy back, two that overlap would restore
out of order and leave the change in place. Here the first user in makes the change, the
last one out undoes it, and those in between find it made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Saved = TypeVar("Saved")


class SharedChange(Generic[Saved]):
    """`with change:` holds the change for the block. `make()` makes it and returns what
    `undo(saved)` needs to put the state back."""

    def __init__(self, make: Callable[[], Saved], undo: Callable[[Saved], None]) -> None:
        self._make, self._undo = make, undo
        self._lock = threading.Lock()
        self._users = 0
        self._saved: Saved | None = None

    def __enter__(self) -> None:
        with self._lock:
            if self._users == 0:
                self._saved = self._make()
            self._users += 1

    @property
    def saved(self) -> Saved | None:
        """The state before the change, while a block holds it; else None."""
        return self._saved

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._undo(self._saved)  # type: ignore[arg-type]
                self._saved = None
