"""Folders and files that only their owner can change, for the parts of vsr's cache that
hold code.

The cache keeps compiled networks (AOTInductor packages, inductor's kernel cache): shared
libraries that a later run loads and executes. A folder that another user can write is a
way for them to run their code as whoever runs vsr next, so vsr makes its cache folders
private (0700) as it creates them, takes group and world write access away from its own
code folders where an older vsr left it (a umask of 002), and refuses to keep code in a
folder that someone else owns or may change. The owners trusted are the user and root (a
read-only cache baked into an image is root's). The check covers the cache folder
(``$VSR_CACHE``, default ``~/.cache/vsr``) and the code folders inside it; the folders
above it are the user's choice. Downloaded weights need no such care: their sha256 is
checked on every use. Weights a Ray driver ships are checked once, when written, so their
folder is kept private as well.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


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


def trusted_owner(uid: int) -> bool:
    """The user running vsr, or root."""
    return uid in (os.geteuid(), 0)


def why_others_can_change(path: Path) -> str | None:
    """Why someone other than this user (or root) could change ``path``, a file or a
    folder: it belongs to another user, or its group or everyone may write it (a folder
    with the sticky bit, such as /tmp, lets nobody replace another's entries). None when
    nobody else can."""
    status = path.stat()
    if not trusted_owner(status.st_uid):
        return f"{path} belongs to another user"
    if status.st_mode & OTHERS_WRITE and not (path.is_dir() and status.st_mode & stat.S_ISVTX):
        return f"{path} can be written by its group or by everyone"
    return None


def tighten(folder: Path) -> None:
    """Take group and world write access away from a folder of this user's."""
    status = folder.stat()
    if status.st_uid == os.geteuid() and status.st_mode & OTHERS_WRITE:
        folder.chmod(stat.S_IMODE(status.st_mode) & ~OTHERS_WRITE)


def why_code_folder_is_unsafe(folder: Path, top: Path, own: list[Path]) -> tuple[Path, str] | None:
    """Why code kept in ``folder`` could be someone else's: it, or a folder above it up to
    ``top``, may be changed by others; the folder to blame and the reason. The folders in
    ``own`` are vsr's, whose group and world write access is taken away first (the user's
    own choice of ``top`` is not)."""
    folder, top = folder.absolute(), top.absolute()
    chain = [folder, *(p for p in folder.parents if p.is_relative_to(top))]
    for step in chain:
        if step in {p.absolute() for p in own}:
            tighten(step)
        problem = why_others_can_change(step)
        if problem is not None:
            return step, problem
    return None
