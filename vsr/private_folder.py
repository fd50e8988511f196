"""Folders that only their owner can change, for the parts of vsr's cache that hold code.

The cache keeps compiled networks (AOTInductor packages, inductor's kernel cache): shared
libraries that a later run loads and executes. A folder that another user can write is a
way for them to run their code as whoever runs vsr next, so vsr makes its cache folders
private (0700, whatever the umask) and refuses to load code from one that others can change.
Downloaded weights need no such care: their sha256 is checked on every use.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


def make_private_folder(folder: Path) -> None:
    """Make ``folder`` and its missing parents readable and writable by this user only.
    Folders that exist already keep their mode."""
    missing = []
    step = folder
    while not step.exists() and step != step.parent:
        missing.append(step)
        step = step.parent
    for step in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            step.mkdir(mode=0o700)


def writable_by_others(folder: Path, top: Path) -> str | None:
    """Why someone other than this user could change what is in ``folder``: it, or a
    folder above it up to ``top``, belongs to another user or lets its group or everyone
    write. None when nobody else can."""
    folder, top = folder.absolute(), top.absolute()
    chain = [folder, *(p for p in folder.parents if p.is_relative_to(top))]
    for step in chain:
        status = step.stat()
        if status.st_uid != os.geteuid():
            return f"{step} belongs to another user"
        if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return f"{step} can be written by its group or by everyone"
    return None
