"""A lock file that one vsr process holds while it works on what no other may work on beside
it: the kept work of an output (vsr.resume_folder), a watched output folder (vsr.watch_state),
a training run's --out (vsr.train.out_lock).

The lock is the OS's (flock), which the system drops with the process however it ends, so the
file of a run that was killed is taken over, never in the way. The file holds the id of the
process that last held it, for a refusal to name and for the next holder to clear up after.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import IO

from vsr.errors import VsrError

try:
    import fcntl  # POSIX
except ImportError:  # so that vsr still imports where it is missing; nothing is then held
    fcntl = None


class HeldByAnother(Exception):
    """Another live process holds the lock; `holder` is the id it wrote ("?" where none)."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def hold_lock_file(path: Path) -> tuple[IO[str], str]:
    """Hold `path` for this process, made where missing, with this process's id written in
    it. Returns the open handle, which holds the lock until it is closed, and the id the last
    holder wrote ("" where none). HeldByAnother when a live process holds it; VsrError when a
    link is in its place; OSError when it cannot be made or locked (ENOLCK where the system
    or file system has no locks)."""
    if fcntl is None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK), str(path))
    # Not through a link: a lock planted as a link would have its target truncated.
    no_link = getattr(os, "O_NOFOLLOW", 0)
    writable = True
    try:
        # The umask decides who else may write it, as for the files beside it: made 0o644,
        # a group's shared output folder refused every later member's watch.
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | no_link, 0o666)
    except PermissionError:
        # Another user's, which this one may not write (made before, or under a umask of
        # 022): flock needs no write access, only the id goes unwritten.
        descriptor, writable = _open_to_read(path, no_link), False
    except OSError as error:
        if error.errno != errno.ELOOP:  # a read-only or full disk: the caller says so
            raise
        raise _planted(path, error) from None
    handle = os.fdopen(descriptor, "a+" if writable else "r")  # noqa: SIM115 - held while working
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise HeldByAnother(holder) from None
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    last = handle.read().strip()
    if writable:
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
    return handle, last


def hold_folder_lock(folder: Path, name: str, doing: str, advice: str) -> IO[str] | None:
    """The lock file `name` in `folder`, held for a run that works on the folder (a watch of
    an output folder, training into --out); None on a file system without locks, where a
    second run cannot be told from the first and is not refused. VsrError in one line where
    another live run holds it ("FOLDER is being `doing` by another vsr run (process N);
    `advice`") or it cannot be held."""
    path = folder / name
    try:
        handle, _ = hold_lock_file(path)
    except HeldByAnother as held:
        raise VsrError(
            f"{folder} is being {doing} by another vsr run (process {held.holder}); {advice}"
        ) from None
    except OSError as error:
        if error.errno == errno.ENOLCK:
            return None
        raise VsrError(f"{path}: cannot be held ({error.strerror})") from None
    return handle


def live_holder(path: Path) -> str | None:
    """The id of the live process that holds `path` ("?" where it wrote none), or None where
    no process holds it (or it is missing). Only looks: the id in the file, which the next
    holder needs to clear up after a killed run, is left as it is."""
    if fcntl is None:
        return None
    try:
        descriptor = _open_to_read(path, getattr(os, "O_NOFOLLOW", 0))
    except (OSError, VsrError):  # missing, unreadable or planted: held by no run of vsr's
        return None
    with os.fdopen(descriptor) as handle:
        try:
            # Shared: it fails only beside another's exclusive hold, and is dropped at close.
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip() or "?"
        except OSError:  # no locks on this file system: no hold can be seen
            return None
    return None


def _open_to_read(path: Path, no_link: int) -> int:
    try:
        return os.open(path, os.O_RDONLY | no_link)
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise _planted(path, error) from None


def _planted(path: Path, error: OSError) -> VsrError:
    return VsrError(f"{path}: not a lock file of vsr's ({error.strerror})")
