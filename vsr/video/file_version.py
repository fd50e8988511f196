"""Which version of a source file a run reads, so that it reads no other one.

A run opens its source by name more than once: the reader (again for a cut or a resume),
the stream copier for the sound and subtitles, the ffmpeg encoder process. A file replaced
under that name meanwhile (by rsync, or an export that renames its result into place) was
read as two: the first file's picture with the second one's sound, and no word of it. So
the reader records the version it opens, and what opens the file again checks that the
name still gives that version. A check made after an opening covers it: the name gave
that version before the check, so it did when the file was opened.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from vsr.errors import VsrError


@dataclass(frozen=True)
class FileVersion:
    """One version of a file: the same file (device and inode), no shorter than it was. A
    replaced file is another inode; one cut short (rewritten in place) is shorter. A file
    that grows is still the one read: a recording still being written is upscaled up to
    where it ended when it was read, as it was before this check, not refused after hours
    of work for having grown."""

    device: int
    inode: int
    size: int

    def holds(self, earlier: FileVersion) -> bool:
        """Whether this is `earlier`'s file, still holding all it held then."""
        return (self.device, self.inode) == (earlier.device, earlier.inode) and (
            self.size >= earlier.size
        )

    @classmethod
    def of(cls, path: str | os.PathLike) -> FileVersion | None:
        """The version of the file `path` names now; None where it names none (an image
        sequence's pattern, a missing file: opening it says why)."""
        try:
            found = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(found.st_mode):
            return None
        return cls(found.st_dev, found.st_ino, found.st_size)


class SourceChanged(VsrError):
    """The source file changed (was replaced, rewritten or removed) while a run read it."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(
            f"{os.fspath(path)} changed while it was being read (replaced or cut short); "
            "run again once it no longer changes"
        )


def check_unchanged(path: str | os.PathLike, version: FileVersion | None) -> None:
    """SourceChanged unless `path` still names the file `version` was taken of (None: a
    source with no one version, an image sequence: nothing to check)."""
    if version is None:
        return
    now = FileVersion.of(path)
    if now is None or not now.holds(version):
        raise SourceChanged(path)
