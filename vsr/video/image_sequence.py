"""An image sequence as a clip: film scans and VFX plates named by a printf-style frame
number, as `scans/f_%04d.png` names f_0001.png, f_0002.png ... (PNG, TIFF, DPX, EXR, JPEG).

libavformat's image2 demuxer reads such a pattern as one video stream, frame n of the
sequence at n frames from zero, at its `framerate` option (25 fps unless given, as ffmpeg
times it): vsr takes `--input-rate` for it, the sequence carrying no timing of its own.
Two things of image2 are mended here, before it reads a frame:

- it looks for the first frame among the numbers 0 to 4 only, so a scan numbered from its
  timecode (f_86400.dpx) was "no such file": the first number found is handed to it;
- it stops at the first number missing, and at the first empty (0-byte) file, without an
  error a run could tell from the end of the sequence, so half a reel would be upscaled as
  if it were all: a gap or an empty file is refused, naming the files, before any work is
  done.

Only printf patterns are read, not globs (image2's pattern_type=glob): a glob orders its
files by name, so f_9.png comes after f_10.png, and an unquoted glob is expanded by the
shell into many arguments before vsr sees it.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vsr.errors import VsrError, option
from vsr.printable import name_list

# image2's frame number: `%d`, or with a width (`%04d`, and `%4d`, which it pads with zeros
# alike); `%%` is a percent sign. It takes one number a name.
_FIELD = re.compile(r"%(\d*)d|%%|%")

# ffmpeg's rate for an image sequence given none (image2's `framerate` default).
DEFAULT_SEQUENCE_RATE = Fraction(25)


def default_rate_note() -> str:
    """The note for a sequence given no rate: a function, as it names the option as its
    reader gives it (vsr.errors.option), known only when the run is."""
    return (
        "an image sequence carries no timing: timed at 25 fps, as ffmpeg does "
        f"({option('--input-rate', metavar='RATE')} sets its rate)"
    )


# Characters that make a name a glob, for the error that says vsr reads printf patterns.
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class _NamePattern:
    """The file name part of a pattern: what lies before and after its frame number."""

    before: str
    after: str
    width: int  # the least digits a number is written with (zero-padded)

    @classmethod
    def of(cls, name: str) -> _NamePattern | None:
        """The pattern of a file name with exactly one frame number; None otherwise."""
        parts, numbers, width, at = [], 0, 0, 0
        for match in _FIELD.finditer(name):
            parts.append(name[at : match.start()])
            at = match.end()
            if match.group(0) == "%%":
                parts.append("%")
            elif match.group(0) == "%":
                return None  # a lone %: not image2's
            else:
                numbers += 1
                width = int(match.group(1) or 0)
                parts.append("\0")  # where the number goes
        parts.append(name[at:])
        if numbers != 1:
            return None
        before, after = "".join(parts).split("\0")
        return cls(before, after, width)

    def number_of(self, name: str) -> int | None:
        """The frame number of a file name the pattern makes, None for any other name
        (f_1.png is not a name of f_%04d.png, which writes it f_0001.png)."""
        if not (name.startswith(self.before) and name.endswith(self.after)):
            return None
        digits = name[len(self.before) : len(name) - len(self.after)]
        if not digits.isascii() or not digits.isdigit():
            return None
        number = int(digits)
        return number if self.name_of(number) == name else None

    def name_of(self, number: int) -> str:
        return f"{self.before}{number:0{self.width}d}{self.after}"


def is_image_sequence(path: str | os.PathLike) -> bool:
    """Whether `path` names an image sequence: a printf frame number in its file name, and
    no file of that very name (which is a file like any other)."""
    path = Path(path)
    return not os.path.lexists(path) and _NamePattern.of(path.name) is not None


def why_not_a_sequence(path: str | os.PathLike) -> str | None:
    """Why a missing input that looks meant as a sequence is not read as one: a glob
    (`scans/*.png`), or two frame numbers in a name (`f_%d_%d.png`); None for any other."""
    path = Path(path)
    if os.path.lexists(path):
        return None
    # Only a glob that names files: a missing "holiday [final].mp4" is no such file.
    if _GLOB.search(path.name) and next(path.parent.glob(path.name), None) is not None:
        return (
            "a glob is not read as an image sequence (its files would be ordered by name, "
            "f_9 after f_10); name the frames by their number, as in scans/f_%04d.png"
        )
    if sum(field.group(0).endswith("d") for field in _FIELD.finditer(path.name)) > 1:
        return (
            "names more than one frame number (%d); an image sequence's file names hold "
            "one, as in scans/f_%04d.png"
        )
    return None


def _is_empty(entry: os.DirEntry) -> bool:
    """Whether a listed file holds no byte (a scan or a copy that never started). One that
    cannot be looked at (a dangling link) is left for image2 to report."""
    try:
        return entry.stat().st_size == 0
    except OSError:
        return False


@dataclass(frozen=True)
class ImageSequence:
    """The files of a pattern: `count` frames numbered from `first` without a gap."""

    pattern: Path
    first: int
    count: int

    @classmethod
    def find(cls, pattern: str | os.PathLike) -> ImageSequence:
        """The sequence `pattern` names, from its folder's listing. Raises VsrError where
        no file matches, where numbers are missing between the first and the last, or where
        a file is empty (one stat a file: see identity for its cost)."""
        pattern = Path(pattern)
        names = _NamePattern.of(pattern.name)
        if names is None:
            raise VsrError(f"{pattern}: not an image sequence pattern (e.g. f_%04d.png)")
        folder = pattern.parent
        try:
            with os.scandir(folder) as entries:
                found = sorted(
                    (number, _is_empty(entry))
                    for entry in entries
                    if (number := names.number_of(entry.name)) is not None
                )
        except FileNotFoundError:
            raise VsrError(f"{pattern}: no such folder ({folder})") from None
        except NotADirectoryError:
            raise VsrError(f"{pattern}: {folder} is not a folder") from None
        except PermissionError:
            raise VsrError(f"{pattern}: the folder {folder} cannot be read") from None
        numbers = [number for number, _ in found]
        if not numbers:
            raise VsrError(f"{pattern}: no such file (no image of the sequence is there)")
        first, last = numbers[0], numbers[-1]
        count = last - first + 1
        if len(numbers) != count:
            # image2 would stop at the first gap: the frames after it would be left out.
            held = set(numbers)
            missing = [n for n in range(first, last + 1) if n not in held]
            raise VsrError(
                f"{pattern}: the sequence {names.name_of(first)} to {names.name_of(last)} "
                f"misses {len(missing)} of its {count} frames "
                f"({name_list([names.name_of(n) for n in missing[:4]])}): "
                "fill or renumber the gap (the frames after it would not be read)"
            )
        empty = [names.name_of(number) for number, is_empty in found if is_empty]
        if empty:
            # image2 stops at an empty file as at a gap, with no error either.
            one = len(empty) == 1
            raise VsrError(
                f"{pattern}: {len(empty)} of the sequence's {count} frames "
                f"{'is an empty file' if one else 'are empty files'} ({name_list(empty)}): "
                f"replace {'it' if one else 'them'} "
                f"(the frames after {'it' if one else 'the first'} would not be read)"
            )
        return cls(pattern, first, count)

    def file(self, number: int) -> Path:
        """The file of the sequence's `number`-th frame (0: its first)."""
        names = _NamePattern.of(self.pattern.name)
        return self.pattern.parent / names.name_of(self.first + number)

    def open(self, rate: Fraction | None = None) -> av.container.InputContainer:
        """The sequence as a clip, frame n at n / `rate` (None: 25 fps). FFmpeg's errors
        pass through."""
        from vsr.video.media_url import file_url

        rate = rate or DEFAULT_SEQUENCE_RATE
        options = {
            "framerate": f"{rate.numerator}/{rate.denominator}",
            "start_number": str(self.first),
            "start_number_range": "1",  # the number found, no other
        }
        return av.open(file_url(self.image2_pattern()), format="image2", options=options)

    def image2_pattern(self) -> str:
        """The pattern as image2 reads it: it takes the whole path for the pattern, so a
        folder's own % (scans/100%/f_%04d.png) is written %%, else it names no file."""
        folder = os.fspath(self.pattern.parent).replace("%", "%%")
        return os.path.join(folder, self.pattern.name)

    def identity(self) -> list:
        """What names this version of the sequence in a resume record: the pattern, its
        frames, and a digest of every file's size and modification time, so that a frame
        rescanned in the middle of the reel tells as well as one added at an end (a stat a
        file, once a --resume run: 0.7 s for 100,000 frames on a local disk, more on a
        network share)."""
        digest = hashlib.sha256()
        for number in range(self.count):
            stat = self.file(number).stat()
            digest.update(f"{stat.st_size} {stat.st_mtime_ns}\n".encode())
        return [str(self.pattern.resolve()), self.first, self.count, digest.hexdigest()]
