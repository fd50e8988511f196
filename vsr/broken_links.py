"""Links that lead to no file: clips linked in from a share that is not mounted, a link
left behind when its file was moved, one made to point at itself.

A folder's listing takes the entries that are files, and such a link is none: `vsr run`
left it out without a word (a folder of two of them was "no video clips in fl2"), and a
single one was "no such file", though the link is there and the fault is where it points.
Each is named with why it leads nowhere instead, as a clip or image that failed.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


def broken_link(path: Path) -> str | None:
    """Why ``path``, a link, leads to no file ("links to /mnt/nas/a.mp4, which is not
    there", "a link that loops"); None where it is no link, or one that leads somewhere."""
    try:
        if not path.is_symlink():
            return None
        path.stat()
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a link that loops"
        try:
            target = os.readlink(path)  # as the link gives it, as the user made it
        except OSError:
            return None  # no link (gone since, or its folder not to be read): not ours to say
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return f"links to {target}, which is not there"
        return f"links to {target}, which cannot be reached ({error.strerror})"
    return None


def why_not_there(path: Path) -> str:
    """What to say of a file ``path`` that cannot be opened as one: the link's fault where
    it is a broken link, else "no such file"."""
    return broken_link(path) or "no such file"


def not_a_regular_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file though something is there: a link that leads
    nowhere (broken_link), or no regular file (a FIFO, whose reading waits for a writer
    for ever, a device, a socket). None for a regular file or a folder, and where nothing
    is there at all (that is "not found")."""
    why = broken_link(path)
    if why:
        return why
    if os.path.lexists(path) and not path.is_file() and not path.is_dir():
        return "not a regular file"
    return None
