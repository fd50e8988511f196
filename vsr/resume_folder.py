"""A hidden folder beside an output that keeps a run's finished work for `--resume`.

Both ways of keeping work use one: the chunk journal of a local run
(vsr.video.chunk_journal) and the segment store of segment mode (vsr.segment_store). What
they share is kept here: the folder holds a record of the settings the work was made with
(`run.json`), and a run that differs in any of them is refused (or, with --overwrite, starts
over) rather than joining two different encodes; a run holds the folder with an OS lock
(flock), which the system drops with the process however it ends, so a second run on the
same output is refused and a killed one's folder is taken over; and a folder that holds a
file of someone else's is never deleted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vsr.atomic_file import atomic_output
from vsr.errors import VsrError, option
from vsr.printable import name_list
from vsr.process_lock import HeldByAnother, hold_lock_file, live_holder
from vsr.video.temp_lock import is_kept_finished
from vsr.video.writer import temp_path_for

# What every such folder holds besides its work: the record, the lock, and the record's
# temporary file while it is written.
_BOOKKEEPING = r"run\.json|lock|\.run\.json\..*\.tmp"


def source_identity(source: Path) -> list:
    """What names one version of a source file in a record: kept work made from another
    version (replaced, edited, touched) must not be joined to this one's. An image
    sequence's pattern: its frames, and each file's (ImageSequence.identity)."""
    from vsr.video.image_sequence import ImageSequence, is_image_sequence

    if is_image_sequence(source):
        return ImageSequence.find(source).identity()
    stat = source.stat()
    return [str(source.resolve()), stat.st_size, stat.st_mtime_ns]


def start_over() -> str:
    return f"{option('--overwrite', True)} to start over"


def _start_this_clip_over(folder: Path) -> str:
    """The advice to start one clip of a folder run over: --overwrite would redo every
    finished clip of the folder too."""
    return (
        f"remove {folder} to start this clip over ({option('--overwrite', True)} would redo "
        "every clip of the folder)"
    )


class KeptWorkForgotten(VsrError):
    """Frames an interrupted --resume run kept for this output, met by a run without
    --resume, which would upscale them again and then delete them: it asks first.
    `in_a_folder`: as KeptWorkMismatch's."""

    def __init__(self, folder: Path, kept: int, in_a_folder: bool = False) -> None:
        self.folder, self.kept = folder, kept
        over = _start_this_clip_over(folder) if in_a_folder else start_over()
        super().__init__(
            f"{folder} holds {kept} upscaled frames of an interrupted run: add "
            f"{option('--resume', True)} to continue it, or {over}"
        )

    def in_a_folder(self) -> KeptWorkForgotten:
        """The same refusal for one clip of a folder run."""
        return KeptWorkForgotten(self.folder, self.kept, in_a_folder=True)


class KeptWorkMismatch(VsrError):
    """Kept work of other settings (`differences` names them; None: an unreadable record).
    Only "source file": another version of the source, whose work can never serve.
    `in_a_folder`: the output is one clip of a folder run, where --overwrite would redo
    every finished clip too: the advice is to remove this clip's kept work."""

    def __init__(
        self, output: Path, folder: Path, stored, fingerprint, in_a_folder: bool = False
    ) -> None:
        self.output, self.folder = output, folder
        self._stored, self._fingerprint = stored, fingerprint
        self.differences = None if stored is None else _differences(stored, fingerprint)
        over = _start_this_clip_over(folder) if in_a_folder else f"add {start_over()}"
        if self.differences is None:
            why = f"has an unreadable record of its settings; {over}"
        elif self.differences == ["source file"]:
            why = (
                "was made from another version of the source file (its size or modification "
                f"time differ), so it cannot serve; {over}"
            )
        else:
            why = (
                f"was made with other settings ({', '.join(self.differences)}); run that "
                f"command again to continue it, or {over}"
            )
            why += _precision_hint(stored, fingerprint)
        super().__init__(f"{output}: the run kept in {folder} {why}")

    def in_a_folder(self) -> KeptWorkMismatch:
        """The same refusal for one clip of a folder run."""
        return KeptWorkMismatch(
            self.output, self.folder, self._stored, self._fingerprint, in_a_folder=True
        )

    @property
    def source_changed(self) -> bool:
        return self.differences == ["source file"]


def being_made_by_another(output: Path, holder: str) -> VsrError:
    return VsrError(
        f"{output} is being made by another vsr run (process {holder}); wait for it, or "
        "stop it first"
    )


class ResumeFolder:
    """The kept work of one output. Subclasses name the folder, the record's format, the
    names their work files may have, and what they are called in messages."""

    FORMAT = ""  # stored in the record: work kept by an older layout is not continued
    WORK_FILES = ""  # a regular expression for the work files' names
    WHAT = "work"  # "chunks", "segments": for messages

    def __init__(self, output: str | Path, folder: Path) -> None:
        self.output = Path(output)
        self.folder = folder
        self._ours = re.compile(f"{_BOOKKEEPING}|{self.WORK_FILES}")
        self._lock = None

    def open(
        self,
        fingerprint: dict[str, Any],
        overwrite: bool,
        holds_work: Callable[[], bool],
    ) -> bool:
        """Open the folder for a run with `fingerprint`. True: it holds an earlier run
        with the same settings, to continue; False: it is new (made now). One of other
        settings that `holds_work` is refused, or with `overwrite` replaced; one another
        vsr process holds is refused."""
        fingerprint = json.loads(json.dumps(fingerprint))  # as it reads back: no tuples
        try:
            return self._open(fingerprint, overwrite, holds_work)
        except OSError as error:
            self.release()
            raise VsrError(
                f"{self.folder}: cannot keep {self.WHAT} there ({error.strerror})"
            ) from None
        except BaseException:
            self.release()
            raise

    def _open(self, fingerprint: dict[str, Any], overwrite: bool, holds_work) -> bool:
        if self.folder.exists():
            if not self.folder.is_dir():
                raise VsrError(f"{self.folder} is in the way (a file, not vsr's); move it away")
            foreign = self.foreign_files()
            if foreign:
                raise VsrError(
                    f"{self.folder} holds {name_list(foreign)}, which vsr did not write; move "
                    f"it out (the kept {self.WHAT} stay)"
                )
            self._claim()
            stored = _read_record(self.folder / "run.json", self.FORMAT)
            if stored == fingerprint:
                return True
            if not overwrite and holds_work():
                raise KeptWorkMismatch(self.output, self.folder, stored, fingerprint)
            self.discard()  # replaced, or it held nothing worth keeping
        self.folder.mkdir(parents=True)
        self._claim()
        with atomic_output(self.folder / "run.json", "w") as stream:
            stream.write(json.dumps({"format": self.FORMAT, **fingerprint}, indent=1))
        return False

    def is_ours(self) -> bool:
        """Whether the folder holds nothing but what a run of this kind writes."""
        return self.folder.is_dir() and not self.foreign_files()

    def foreign_files(self) -> list[str]:
        """Names in the folder that a run of this kind does not write."""
        return sorted(p.name for p in self.folder.iterdir() if not self._ours.fullmatch(p.name))

    def _claim(self) -> None:
        """Hold the folder's lock for this process (vsr.process_lock), and clear what the
        last holder left beside the output."""
        try:
            handle, last = hold_lock_file(self.folder / "lock")
        except HeldByAnother as held:
            raise being_made_by_another(self.output, held.holder) from None
        self._lock = handle
        if last.isdigit() and int(last) != os.getpid():
            half = temp_path_for(self.output, int(last))
            if not is_kept_finished(half):  # whole, only never given its name: kept
                half.unlink(missing_ok=True)  # its half file

    def refuse_if_held(self) -> None:
        """VsrError where another live run holds the folder: its work is not an interrupted
        run's, to continue or to remove, but one being made now."""
        holder = live_holder(self.folder / "lock")
        if holder is not None:
            raise being_made_by_another(self.output, holder)

    def release(self) -> None:
        """Let go of the lock (the work stays for a later run)."""
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.close()

    def discard(self) -> None:
        self.release()
        shutil.rmtree(self.folder, ignore_errors=True)

    def discard_if_ours(self) -> None:
        """Remove the folder if it is one of ours that no live run holds (never a folder of
        someone else's)."""
        if not self.is_ours():
            return
        if self._lock is None:
            try:
                self._claim()
            except (VsrError, OSError):
                return  # another run is making it
        self.discard()


def _read_record(path: Path, format: str) -> dict[str, Any] | None:
    """The settings the kept work was made with, or None when they cannot be read."""
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.pop("format", None) != format:
        return None
    return stored


def _precision_hint(stored: dict[str, Any], fingerprint: dict[str, Any]) -> str:
    """Where the network's precision differs, which one the kept work used. The CPU's
    default depends on the CPU (vsr.default_precision), so the same command on another
    machine, or after an upgrade that changed the default, asks for this."""
    then, now = _cpu_precision(stored), _cpu_precision(fingerprint)
    if then is None or now is None or then == now:
        return ""
    return (
        f" (it ran in {then} and this run in {now}: with the same weights, "
        f"{option('--precision', then)} continues it)"
    )


def _cpu_precision(record: dict[str, Any]) -> str | None:
    """The precision a record holds: a local run's network is [arch, precision, identity];
    segment mode's precision is [the CPU tasks', the GPU tasks']."""
    network, precision = record.get("network"), record.get("precision")
    if isinstance(network, list) and len(network) == 3:
        return network[1] if isinstance(network[1], str) else None
    if isinstance(precision, list) and precision and isinstance(precision[0], str):
        return precision[0]
    return None


def _differences(stored: dict[str, Any], fingerprint: dict[str, Any]) -> list[str]:
    return sorted(k for k in {*stored, *fingerprint} if stored.get(k) != fingerprint.get(k))
