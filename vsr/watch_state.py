"""What a folder watch has done, kept in its output folder so that restarts repeat nothing.

The state is a JSON-lines file (`.vsr-watch.jsonl`): one line per clip done or failed, with
the size and modification time the clip had and the input folder it is in: watches of two
folders into one output folder must not take each other's clips of the same name for their
own (a line without a folder, written before lines had one, is taken as the next watch's).
A watch appends a line per clip, so the cost of a record does not grow with the clips
behind it (rewriting a whole JSON file took 0.2 s a clip at 10,000 clips and 2 s at
100,000). The first record of a watch rewrites the file with one line per clip, the latest,
so it holds no more lines than clips. A line cut short by a crash is the one record that
crash lost; any other unreadable line means the file is not vsr's state, and the watch
stops rather than redo or skip clips on a guess. A watch holds the record while it lasts (an
OS lock on `.vsr-watch.lock`), so a second watch of the same output folder is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from vsr.atomic_file import atomic_output
from vsr.errors import VsrError
from vsr.process_lock import hold_folder_lock

STATE_FILE = ".vsr-watch.jsonl"
# The whole-file JSON state of vsr before the journal: read once, then replaced.
OLD_STATE_FILE = ".vsr-watch.json"
# Held by a watch while it lasts (vsr.process_lock): a second watch of the same output folder
# would upscale the first's clips beside it and rewrite the record without the first's lines.
LOCK_FILE = ".vsr-watch.lock"


class WatchState:
    """Which clips of `in_dir` are done or failed (`clips`: name -> {"status", "signature",
    "folder"[, "error"]}), with the records of other folders watched into `out_dir` kept."""

    def __init__(self, out_dir: Path, in_dir: Path, hold: bool = False) -> None:
        """`hold`: hold the output folder's record for this process until close() (a
        watch's), refused while another holds it."""
        self.path = out_dir / STATE_FILE
        self._old_path = out_dir / OLD_STATE_FILE
        self._in_dir = in_dir
        self._folder = str(in_dir.resolve())
        self.clips: dict[str, dict[str, Any]] = {}
        self._elsewhere: dict[tuple[str, str], dict[str, Any]] = {}  # (folder, name) -> entry
        self._failed_here: set[str] = set()  # the clips this watch has failed
        self._compacted = False
        # Held before the record is read: read first, it could miss the last lines of a watch
        # that ended meanwhile, which this one's rewrite would then drop.
        self._out_dir = out_dir
        self._lock = _hold(out_dir) if hold else None
        try:
            records = _read_records(self.path, self._old_path)
        except BaseException:
            self.close()
            raise
        for name, entry in records:  # in the order written: the latest record of a clip wins
            folder = entry.setdefault("folder", self._folder)
            if folder == self._folder:
                self.clips[name] = entry
            else:
                self._elsewhere[folder, name] = entry

    def hold_again(self) -> None:
        """Hold the record in an output folder made again (the first was moved away with its
        lock file, and a second watch of the new one was not refused); refused where another
        watch holds it already."""
        if self._lock is not None:
            self._lock.close()
            self._lock = _hold(self._out_dir)

    def close(self) -> None:
        """Let go of the record (held with `hold`), for the next watch."""
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.close()

    @staticmethod
    def signature(clip: Path) -> list[int]:
        stat = clip.stat()
        return [stat.st_size, stat.st_mtime_ns]

    def settled(self, clip: Path) -> bool:
        """Done on exactly this version of the file, or failed on it in this watch (so: not
        run again). A clip that changed since is another version: a copy that stalled
        longer than the watch interval and then went on, or a clip dropped in again. A
        failure an earlier watch recorded is tried once more: its cause may have been the
        run's (a device, a disk) and mended since."""
        entry = self.clips.get(clip.name)
        if entry is None or entry["signature"] != self.signature(clip):
            return False
        return entry["status"] == "done" or clip.name in self._failed_here

    def done_before(self, clip: Path) -> bool:
        """Upscaled on some version, so that its output is vsr's and a new version replaces
        it: a clip whose latest attempt failed too, when one before that was done (a copy
        read half-way through, or one that failed and then changed again)."""
        entry = self.clips.get(clip.name)
        return entry is not None and _was_done(entry)

    def done_clips(self) -> list[Path]:
        """The clips whose outputs vsr wrote (done_before), of any folder watched into the
        output folder, even those since removed; this folder's last, so that an output the
        records give to clips of two folders is taken for this folder's."""
        elsewhere = [
            Path(folder) / name
            for (folder, name), entry in self._elsewhere.items()
            if _was_done(entry)
        ]
        return elsewhere + [
            self._in_dir / name for name, entry in self.clips.items() if _was_done(entry)
        ]

    def recorded_on(self, clip: Path, signature: list[int]) -> bool:
        """Whether the latest record of `clip`, of this folder or another (a path from
        done_clips), was of the version `signature` names."""
        if clip.parent == self._in_dir:
            entry = self.clips.get(clip.name)
        else:
            entry = self._elsewhere.get((str(clip.parent), clip.name))
        return entry is not None and entry["signature"] == signature

    def record(
        self, clip: Path, status: str, error: str = "", signature: list[int] | None = None
    ) -> None:
        """Note `clip` as done or failed. `signature` is the version that was processed
        (taken before the run, so a clip removed or replaced meanwhile is still recorded)."""
        if signature is None:
            signature = self.signature(clip)
        entry: dict[str, Any] = {"status": status, "signature": signature, "folder": self._folder}
        if error:
            entry["error"] = error
        if status == "failed" and self.done_before(clip):
            entry["done_before"] = True  # its output, if there, is an earlier version's
        self.clips[clip.name] = entry
        if status == "failed":
            self._failed_here.add(clip.name)
        else:
            self._failed_here.discard(clip.name)
        # The file is gone where the output folder was moved away or removed (and made
        # again): appended to, it would hold this clip alone, and a restart would redo the
        # others.
        if not self._compacted or not self.path.exists():
            self._rewrite()
            return
        with open(self.path, "a") as stream:
            stream.write(_line(clip.name, entry))

    def _rewrite(self) -> None:
        """The file with one line per clip, written whole or not at all."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(self.path, "w") as stream:
            stream.writelines(_line(name, entry) for name, entry in self.clips.items())
            stream.writelines(_line(name, entry) for (_, name), entry in self._elsewhere.items())
        self._old_path.unlink(missing_ok=True)
        self._compacted = True


def _hold(out_dir: Path) -> IO[str] | None:
    """The lock file of `out_dir`'s watch, held (vsr.process_lock.hold_folder_lock)."""
    return hold_folder_lock(
        out_dir, LOCK_FILE, "watched", "stop it first, or give this watch another OUTPUT folder"
    )


def _was_done(entry: dict[str, Any]) -> bool:
    return entry["status"] == "done" or "done_before" in entry


def _line(name: str, entry: dict[str, Any]) -> str:
    return json.dumps({"clip": name, **entry}) + "\n"


def _read_records(path: Path, old_path: Path) -> list[tuple[str, dict[str, Any]]]:
    if path.exists():
        return _read_lines(path)
    if old_path.exists():
        return list(_read_old(old_path).items())
    return []


def _read_lines(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Each record's clip name and entry, in the order written."""
    records: list[tuple[str, dict[str, Any]]] = []
    text = path.read_text()
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            entry = json.loads(line)
            name = entry.pop("clip")
            if not {"status", "signature"} <= entry.keys():
                raise KeyError("status")
            if not isinstance(entry.get("folder", ""), str):
                raise TypeError("folder")
        # RecursionError: JSON nested deeper than Python parses (no record of vsr's is).
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            if number == len(lines):  # no newline after it: a write a crash cut short
                continue
            raise VsrError(
                f"{path} line {number} is not a watch record; move the file away to start over"
            ) from None
        records.append((name, entry))
    return records


def _read_old(path: Path) -> dict[str, dict[str, Any]]:
    try:
        clips = json.loads(path.read_text())["clips"]
        if not isinstance(clips, dict):
            raise TypeError
    except (ValueError, TypeError, KeyError):
        raise VsrError(f"{path} is damaged; move it away to start over") from None
    return clips
