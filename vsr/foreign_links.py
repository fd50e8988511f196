"""Symbolic links that another user put in a folder vsr works through.

In a folder others can write (an upload or drop folder), a link could point at any file
the user running vsr may read and have it upscaled into the output folder, where its maker
may read it. Such a link is left alone, with a note, unless it points at a file of its
maker's own (which they could read anyway). The user's own links are taken: linking clips
in from elsewhere is a common way to fill a folder.

The check is made when the folder is listed and again just before a clip is opened. A
link swapped in during the milliseconds between that second look and FFmpeg's opening of
the file is not caught: that would take opening the clip once, by descriptor, for every
reader of it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from vsr.printable import name_list

REFUSAL = "a link made by another user, to a file not theirs: left alone"


def linked_by_another_user(path: Path) -> bool:
    """Whether ``path`` is a link that another user made to a file that is not theirs."""
    try:
        if not path.is_symlink():
            return False
        maker = path.lstat().st_uid
        if maker == os.geteuid():
            return False
        return path.stat().st_uid != maker  # their own file: nothing they could not read
    except OSError:
        return False  # gone, or dangling: opening it fails on its own


def say_links_left_alone(links: list[Path], log: Callable[[str], None], what: str = "clip") -> None:
    """One note naming the links left alone (none: nothing said); `what` each one is."""
    if not links:
        return
    log(
        f"vsr: note: {len(links)} link(s) made by another user left alone "
        f"({name_list([p.name for p in links])}): a link "
        f"can point at any file you can read; copy the {what} in, or link it yourself"
    )
