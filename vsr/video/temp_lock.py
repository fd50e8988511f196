"""Temporary outputs held with an OS lock, so that a later run can tell a dead one.

The writer makes its output under a hidden name with its process id beside the final one,
and renames it into place when complete. A run killed outright (SIGKILL, the OOM killer, a
power loss) leaves that file behind, and each kill adds another under a new id: up to the
size of the output, hidden, for good. So the writer holds a lock (flock) on its temporary
file while it writes, which the system drops with the process however it ends, and a run
for the same output removes the files of its name that nobody holds. The file is locked
before it takes its name (create_held), so one just made is never taken for dead: a run
restarted at once after a kill (a crash loop, the OOM killer and a retry) removes what the
killed one left. Any file on a file system without locks is left alone. Segment mode's
work folder of lossless parts is held and swept the same way, through a lock file inside
it, made held alike (a folder still without one is left alone).
A finished output that could not take its name (its folder made read-only meanwhile) stays
under its temporary one, made read-only (keep_finished): no sweep takes it for dead.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
from pathlib import Path
from typing import IO

try:
    import fcntl  # POSIX; where it is missing, nothing is held or removed
except ImportError:
    fcntl = None

# The file a work folder is held through.
FOLDER_LOCK = ".held"


def hold(path: Path) -> IO[bytes] | None:
    """An open handle that holds `path` locked while it stays open; None where the file
    system has no locks (nothing is then removed as dead either)."""
    if fcntl is None:
        return None
    try:
        # Writable: over NFS an exclusive lock needs a descriptor open for writing.
        handle = open(path, "r+b")  # noqa: SIM115 - held while the output is written
    except OSError:
        return None
    if not _lock(handle):
        handle.close()
        return None
    return handle


def create_held(path: Path, permissions: int = 0o666) -> IO[bytes] | None:
    """Make `path` a new, empty file, held from the moment it has its name: made and locked
    under a side name that no sweep matches, then renamed to its own. A rename keeps the
    file and its lock, and replaces whatever holds the name (a file of an earlier process
    with this pid, a link planted there: the link itself, never its target), so a sweep
    may take any file of its pattern that nobody holds for a dead run's, however new. The
    handle holds it while it stays open; None where the file system has no locks. Made with
    `permissions` (less the umask). FileExistsError: the side name appeared meanwhile
    (another run here)."""
    side = path.with_name(path.name + ".new")
    side.unlink(missing_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    handle = open(os.open(side, flags, permissions), "r+b")  # noqa: SIM115 - held while written
    try:
        held = _lock(handle)  # the file is new and this process's: only a lockless disk refuses
        os.rename(side, path)
    except BaseException:
        handle.close()
        side.unlink(missing_ok=True)
        raise
    if not held:
        handle.close()
        return None
    return handle


def _lock(handle: IO[bytes]) -> bool:
    if fcntl is None:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def hold_folder(folder: Path) -> IO[bytes] | None:
    """Hold a new work folder (segment mode's lossless parts) through a lock file inside
    it, which its sweep then looks at: made held (create_held), as a temporary file is, so
    that a run restarted at once after a kill can tell the killed run's folder from a live
    one, and removes it. None where it cannot be held."""
    try:
        return create_held(folder / FOLDER_LOCK)
    except OSError:
        return None


def keep_finished(path: Path) -> bool:
    """Mark `path`, a finished output that could not be given its name, as kept: it is made
    read-only, which a temporary file being written never is. False where it cannot be (a
    file system without modes, or one mounted read-only)."""
    try:
        path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)
    except OSError:
        return False
    return is_kept_finished(path)


def is_kept_finished(path: Path) -> bool:
    """Whether `path` is a finished output kept under its temporary name (keep_finished)."""
    try:
        found = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(found.st_mode) and not found.st_mode & stat.S_IWUSR


def remove_dead_temps(target: Path, pattern: str) -> list[Path]:
    """Remove the temporary files and work folders of `target` (names that fully match
    `pattern`, a regular expression with the process id as its one group) that no live
    run holds; the names removed. A folder without its lock file is left alone."""
    removed: list[Path] = []
    if fcntl is None:
        return removed
    name = re.compile(pattern)
    try:
        candidates = list(target.parent.iterdir())
    except OSError:
        return removed  # the writer says why the folder cannot be used
    for path in candidates:
        made = name.fullmatch(path.name)
        if not made:
            continue
        folder = path.is_dir() and not path.is_symlink()
        if not folder and int(made[1]) == os.getpid():
            continue  # this process's own file is guarded in memory (writer._TEMPS_IN_USE)
        if not folder and is_kept_finished(path):
            continue  # whole, only never given its name (a folder made read-only)
        try:
            flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0)
            descriptor = os.open(path / FOLDER_LOCK if folder else path, flags)
        except OSError:
            continue  # a link, no lock file, or gone meanwhile: not ours to judge
        with open(descriptor, "r+b") as handle:
            try:
                # Held from the moment it has its name (create_held), however new.
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # held by a live run, or a file system without locks
            with contextlib.suppress(OSError):
                if folder:
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed.append(path)
    return removed
