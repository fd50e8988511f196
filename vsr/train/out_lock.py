"""The lock a training run holds on its --out folder for as long as it lives.

Two runs into one folder (two starts, or two --resume) each wrote last.pt, the weights,
config.json and log.csv over the other's, and both ended as if all were well. The lock is
vsr.process_lock's, taken before the run looks at what the folder holds or writes into it;
under torchrun rank 0 alone takes it, as rank 0 alone writes there.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import IO

from vsr.errors import VsrError
from vsr.process_lock import hold_folder_lock

LOCK_FILE = ".vsr-train.lock"


class OutFolderLock:
    """Held by `take`, let go by `release`; a folder `take` made for a run that then wrote
    nothing into it is removed again, as a run that cannot start creates nothing."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._handle: IO[str] | None = None
        self._first_made: Path | None = None

    def take(self) -> None:
        """Make --out where missing and hold its lock. VsrError when another live run holds
        it, or the lock cannot be made; on a file system without locks nothing is held (a
        second run cannot be told from the first there)."""
        missing = self.out
        while not missing.parent.exists() and missing.parent != missing.parent.parent:
            missing = missing.parent
        made = not self.out.exists()
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise VsrError(f"cannot create output folder {self.out}: {error.strerror}") from None
        if made:
            self._first_made = missing
        try:
            self._handle = hold_folder_lock(
                self.out, LOCK_FILE, "trained", "wait for it, stop it, or choose another --out"
            )
        except VsrError:
            self.release()
            raise

    def release(self) -> None:
        handle, self._handle = self._handle, None
        made, self._first_made = self._first_made, None
        if made is not None and self._holds_only_the_lock():
            (self.out / LOCK_FILE).unlink(missing_ok=True)
            folder = self.out
            with contextlib.suppress(OSError):  # one that is not empty stays
                while True:
                    folder.rmdir()
                    if folder == made:
                        break
                    folder = folder.parent
        if handle is not None:  # closed first, another run could take it and lose it here
            handle.close()

    def _holds_only_the_lock(self) -> bool:
        try:
            return {path.name for path in self.out.iterdir()} <= {LOCK_FILE}
        except OSError:
            return False
