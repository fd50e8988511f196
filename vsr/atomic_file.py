"""Output files that appear whole or not at all.

Each is written to a temporary file beside its target and renamed over it once complete, so
an interrupted or failed write leaves nothing half-written. mkstemp makes its files 0600
and a rename keeps the mode, so the finished file is given what an ordinary open() would
have given it: 0666 less the umask.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from vsr.errors import VsrError


@contextmanager
def atomic_output(
    path: str | Path, mode: str = "wb", replace: bool = True, **open_args: Any
) -> Iterator[IO]:
    """``with atomic_output(path, "w") as stream:`` writes ``path`` only if the block ends
    without an exception; the target's folder must exist. With ``replace=False`` a file
    that appeared at ``path`` meanwhile (another writer's) is kept, and VsrError raised."""
    path = Path(path)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, mode, **open_args) as stream:
            yield stream
        os.chmod(temp, 0o666 & ~_umask())
        if replace:
            os.replace(temp, path)
        else:
            _put_in_place_unless_taken(Path(temp), path)
    except BaseException as error:
        Path(temp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            # A full disk hit inside a writer's own buffer (PIL, json) names no file; the
            # user must hear which one, so which disk, was full.
            error.filename = str(path)
        raise


def _put_in_place_unless_taken(temp: Path, path: Path) -> None:
    """Rename ``temp`` to ``path`` unless ``path`` exists, in one step: a hard link fails on
    an existing name, where a check before a rename would leave a moment for another
    writer. File systems without hard links (FAT, some network shares) get the check."""
    try:
        os.link(temp, path)
    except FileExistsError:
        raise VsrError(f"{path} was written by someone else meanwhile; it is kept") from None
    except OSError:
        if path.exists():
            raise VsrError(f"{path} was written by someone else meanwhile; it is kept") from None
        os.replace(temp, path)
        return
    temp.unlink()


def _umask() -> int:
    # Linux says it in /proc: setting the umask to read it would, for that moment, give the
    # files another thread of the process creates (an embedding service's) mode 0666.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)  # elsewhere the only way to read it is to set it
    os.umask(mask)
    return mask


def check_can_write(path: Path | None) -> None:
    """A file can be written at `path`: it is not a folder, and its folder exists or can be
    made (missing folders are created when the file is written, as for `vsr run --report`)."""
    if path is None:
        return
    if path.is_dir():
        raise VsrError(f"{path} is a folder; give a file name")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise VsrError(f"cannot write {path}: {folder} is a file, not a folder")
