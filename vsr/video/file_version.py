"""Which version of a source file a run reads, so that it reads no other one.

A run opens its source by name more than once: the reader (again for a cut or a resume),
the stream copier for the sound and subtitles, the ffmpeg encoder process. A file replaced
under that name meanwhile (by rsync, or an export that renames its result into place) was
read as two: the first file's picture with the second one's sound, and no word of it. So
the reader records the version it opens, and what opens the file again checks that the
name still gives that version. A check made after an opening covers it: the name gave
that version before the check, so it did when the file was opened.

A source deleted or moved away mid-run is another matter: what was opened before it went
was the file itself, whole. The writer holds the source open (HeldSource), so that its end
check can still tell such a file from one cut short, and keep the output.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
    def of(cls, path: str | os.PathLike | int) -> FileVersion | None:
        """The version of the file `path` names now (or an open file's, by its descriptor);
        None where it names none (an image sequence's pattern, a missing file: opening it
        says why)."""
        try:
            found = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(found.st_mode):
            return None
        return cls(found.st_dev, found.st_ino, found.st_size)


class SourceChanged(VsrError):
    """The source file changed (was replaced or rewritten) while a run read it."""

    happened = (
        "changed while it was being read (replaced or cut short); "
        "run again once it no longer changes"
    )

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(f"{os.fspath(path)} {self.happened}")


class SourceRemoved(SourceChanged):
    """The source's name gave no file where a run had to open or check it again: deleted
    or moved away. Not "replaced", and no run can be made again of a file that is gone."""

    happened = "was removed while it was being upscaled (deleted or moved away)"


def _gone(path: str | os.PathLike) -> bool:
    """Whether `path` names nothing now (a file deleted or moved away, or a folder on the
    way to it), as against a name that gives something other than the file."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:  # there, but not to be looked at (a permission taken away)
        pass
    return False


def check_unchanged(path: str | os.PathLike, version: FileVersion | None) -> None:
    """SourceChanged unless `path` still names the file `version` was taken of; SourceRemoved
    where it names nothing (None: a source with no one version, an image sequence: nothing
    to check). Made before an opening too, it says a file gone as removed, not as one that
    cannot be opened."""
    if version is None:
        return
    now = FileVersion.of(path)
    if now is None and _gone(path):
        raise SourceRemoved(path)
    if now is None or not now.holds(version):
        raise SourceChanged(path)


class HeldSource:
    """The source held open by the writer from its start to its end check (`end_check`).
    Opened by name, it is one more opening, checked as it is made."""

    def __init__(self, path: str | os.PathLike, version: FileVersion | None) -> None:
        self.path, self.version = Path(path), version
        self._file: BinaryIO | None = None
        if version is None:
            return
        try:
            self._file = open(self.path, "rb", buffering=0)  # noqa: SIM115 - until close()
        except (FileNotFoundError, NotADirectoryError):
            raise SourceRemoved(self.path) from None
        held = FileVersion.of(self._file.fileno())
        if held is None or not held.holds(version):
            self.close()
            raise SourceChanged(self.path)

    def end_check(self, every_opening_checked: bool) -> None:
        """SourceChanged unless all that was read of the source was its version, whole.
        Where the name still gives the version, every opening by name before now got it.
        Where the name is gone (deleted or moved away), the openings that were checked as
        they were made got it, and the held file says whether it was cut short before it
        went: the output is kept. An opening not checked so (`every_opening_checked`
        False: the ffmpeg encoder process opens the source when it will) may have got a
        file put there and removed since: SourceRemoved."""
        if self._file is None or not _gone(self.path):
            check_unchanged(self.path, self.version)
            return
        held = FileVersion.of(self._file.fileno())
        if not (every_opening_checked and held is not None and held.holds(self.version)):
            raise SourceRemoved(self.path)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
