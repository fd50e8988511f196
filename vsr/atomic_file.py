"""Output files that appear whole or not at all.

Each is written to a temporary file beside its target and renamed over it once complete, so
an interrupted or failed write leaves nothing half-written. The temporary file is made 0600
and a rename keeps the mode, so the finished file is given what an ordinary open() would
have given it: 0666 less the umask. It is held with a lock while it is written, as a video's
is (vsr.video.temp_lock): one that a run killed outright left behind (a picture of a folder
run, a download cut off by SIGKILL) is removed by the next write of the same file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from vsr.broken_links import broken_link
from vsr.errors import VsrError, empty_value, option
from vsr.page_marker import is_vsr_page
from vsr.report_kind import report_kind
from vsr.video.temp_lock import create_held, remove_dead_temps


@contextmanager
def atomic_output(
    path: str | Path, mode: str = "wb", replace: bool = True, **open_args: Any
) -> Iterator[IO]:
    """``with atomic_output(path, "w") as stream:`` writes ``path`` only if the block ends
    without an exception; the target's folder must exist. With ``replace=False`` a file
    that appeared at ``path`` meanwhile (another writer's) is kept, and VsrError raised."""
    path = Path(path)
    # The process id names a dead run's file for the sweep; the token, this write's own.
    temp = path.with_name(f".{_temp_stem(path.name)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        remove_dead_temps(path, _temp_pattern(path))
        held = create_held(temp, permissions=0o600)
    except OSError as error:
        # Said of the file the user asked for, not of the hidden temporary name.
        error.filename = str(path)
        raise
    try:
        with open(temp, mode, **open_args) as stream:
            yield stream
        os.chmod(temp, 0o666 & ~_umask())
        if replace:
            os.replace(temp, path)
        else:
            put_in_place_unless_taken(Path(temp), path)
    except BaseException as error:
        temp.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            # A full disk hit inside a writer's own buffer (PIL, json) names no file; the
            # user must hear which one, so which disk, was full.
            error.filename = str(path)
        raise
    finally:
        if held is not None:  # held until it is in place or gone
            held.close()


def _temp_pattern(path: Path) -> str:
    """The names atomic_output gives `path`'s temporary files, the process id its group."""
    return rf"\.{re.escape(_temp_stem(path.name))}\.(\d+)\.[0-9a-f]{{8}}\.tmp"


# A file name holds at most 255 bytes (NAME_MAX on Linux, macOS and Windows alike). The
# temporary name adds to the target's ".", ".<pid>.<8 hex>.tmp" and, while create_held
# makes it, ".new": 29 bytes with the largest process id (10 digits).
_NAME_MAX = 255
_TEMP_ADDS = len(".") + len(".4294967295.0123abcd.tmp.new")
_NAME_HASH_HEX = 16


def _temp_stem(name: str) -> str:
    """What a temporary name holds of the target's `name`: all of it where the temporary
    name still fits in a file name, else its start and a hash of the whole. A legal name of
    about 230 bytes or more was refused as too long, after the work, for its temporary's sake;
    the hash keeps the stem the same for the same name, so the sweep still finds it."""
    encoded = os.fsencode(name)
    room = _NAME_MAX - _TEMP_ADDS
    if len(encoded) <= room:
        return name
    digest = hashlib.sha256(encoded).hexdigest()[:_NAME_HASH_HEX]
    kept = encoded[: room - len(digest) - 1]
    if _is_utf8(encoded):  # cut on a letter: macOS takes only UTF-8 names
        kept = kept.decode("utf-8", errors="ignore").encode()
    return f"{os.fsdecode(kept)}~{digest}"


def _is_utf8(encoded: bytes) -> bool:
    try:
        encoded.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def put_in_place_unless_taken(temp: Path, path: Path) -> None:
    """Rename ``temp`` to ``path`` unless ``path`` exists, in one step: a hard link fails on
    an existing name, where a check before a rename would leave a moment for another
    writer. File systems without hard links (FAT, some network shares) get the check."""
    taken = VsrError(f"{path} was written by someone else meanwhile; it is kept")
    try:
        os.link(temp, path)
    except FileExistsError:
        raise taken from None
    except OSError:
        if os.path.lexists(path):
            raise taken from None
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


def check_can_write(
    path: str | os.PathLike | None, kind: str | None = None, flag: str | None = None
) -> None:
    """A file can be written at `path`: it is not a folder nor named as one (a trailing
    slash), its folder exists or can be made (missing folders are created when the file is
    written, as for `vsr run --report`) and may be written. A report or picture vsr writes (``kind``: "JSON", "CSV", "HTML", "PNG"
    or "image") replaces an earlier one of its kind, never another file: `--json clip.mp4`
    or `--report IN/a.mp4` was a slip that cost the video. `flag` is the option that
    named the file, for the message of an empty name."""
    if path is None:
        return
    if not os.fspath(path).strip():
        # Was " ends in a slash, naming a folder": Path("") is the working folder.
        named = option(flag) if flag is not None else "the file name"
        raise VsrError(empty_value(named, "give a file name"))
    # Path() drops a trailing slash, and a last "." : `--report rdir/` (or `rdir/.`) became
    # a file named rdir, and `-o page.html/` replaced page.html. Such a name means a folder.
    text = os.fspath(path)
    last = os.path.basename(text.replace(os.altsep or os.sep, os.sep))
    if last in ("", ".", ".."):
        ending = "a slash" if not last else f"'{last}'"
        raise VsrError(f"{text} ends in {ending}, naming a folder; give a file name")
    path = Path(path)
    if path.is_dir():
        raise VsrError(f"{path} is a folder; give a file name")
    refusal = why_folders_cannot_be_made(path.parent)
    if refusal:
        raise VsrError(f"cannot write {path}: {refusal}")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise VsrError(f"cannot write {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise VsrError(f"cannot write {path}: {folder} is not writable")
    if kind is not None and os.path.lexists(path):
        problem = _why_not_replaceable(path, kind)
        if problem:
            raise VsrError(f"{path} {problem}; vsr will not write over it (remove it first)")


def why_folders_cannot_be_made(folder: Path) -> str | None:
    """Why `folder`'s missing folders cannot be made, as `mkdir -p` would refuse them: one
    on the way is a link that leads nowhere (to an unmounted share, or in a loop). Taken
    for a missing folder, the write failed after the work ("File exists"), or the folders
    were made where the link points. None where nothing stands in the way."""
    while not folder.exists() and folder != folder.parent:
        why = broken_link(folder)
        if why:
            return f"{folder}: {why}"
        folder = folder.parent
    return None


_KIND_NAMES = {
    "JSON": "a vsr JSON report",
    "HTML": "a vsr HTML page",
    "CSV": "a CSV file",
    "PNG": "a PNG image",
    "image": "an image",
}
# Reports are kilobytes to a few megabytes, parsed whole to judge them; a larger one (a
# folder run of tens of thousands of clips) is judged by its start.
_LARGEST_PARSED = 64 << 20


def _why_not_replaceable(path: Path, kind: str) -> str | None:
    """Why the existing ``path`` is not an earlier ``kind`` file of vsr's; None if it is."""
    # Not opened: reading a FIFO or a terminal would wait for ever.
    if not path.is_file():
        return "exists and is not a regular file"
    if not os.access(path, os.R_OK):
        return "exists and cannot be read"
    if not is_of_kind(path, kind):
        return f"exists and is not {_KIND_NAMES[kind]}"
    return None


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_of_kind(path: Path, kind: str) -> bool:
    """Whether the regular file at ``path`` is a ``kind`` file (or empty), judged by its
    content: JSON parsed whole and one of vsr's reports (a TOML or INI file starts with "["
    too, and a config.json is JSON), HTML a page of vsr's, the others by their first
    bytes."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(4096)
            if not head:
                return True
            if kind == "JSON":
                if os.fstat(stream.fileno()).st_size > _LARGEST_PARSED:
                    return _starts_like_json(head)
                data = json.loads((head + stream.read()).decode("utf-8-sig"))
                # Only a report of vsr's: a training run's config.json or the weights'
                # manifest.json is JSON too, and was replaced without a word.
                return report_kind(data) is not None
    except (OSError, ValueError, RecursionError):  # unreadable, not UTF-8, not JSON, or
        return False  # nested deeper than json parses (no report of vsr's is)
    if kind == "HTML":
        # A page of vsr's only: a hand-written index.html is HTML too, and was replaced.
        return is_vsr_page(head)
    if kind == "CSV":
        return b"\0" not in head and _is_text(head)
    if kind == "PNG":
        return head.startswith(_PNG_SIGNATURE)
    if kind == "image":
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path):
                return True
        except Image.DecompressionBombError:  # an image Pillow will not decode: a large one
            return True
        except (UnidentifiedImageError, OSError):
            return False
    raise ValueError(f"unknown kind of file {kind!r}")


def _starts_like_json(head: bytes) -> bool:
    """An object or array opening as JSON's do: '{' then a key or '}', '[' then a value or
    ']' (a TOML table starts "[name]")."""
    text = head.decode("utf-8-sig", errors="replace").lstrip()
    rest = text[1:].lstrip()[:1]
    if text.startswith("{"):
        return rest in ('"', "}")
    return text.startswith("[") and rest in tuple('{["]-0123456789tfn')


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start >= len(head) - 3  # a character cut at the end of the read
    return True
