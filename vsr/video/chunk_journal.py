"""Finished chunks of an output kept on disk, so that an interrupted run continues where it
stopped (`vsr run --resume`) instead of starting over.

The writer encodes the video in chunks that each start with a keyframe and refer to nothing
outside themselves (vsr.video.parallel_writer). With a journal, every chunk whose packets
have all gone into the output is also stored, packets and timestamps as the encoder made
them, in a hidden folder beside the output, one file per chunk written whole and renamed
into place. A run that is cut short (Ctrl-C, a crash, a reboot) leaves those files behind;
the next run with the same settings muxes them again, in milliseconds, and the reader
seeks past the frames they hold. The folder goes when the output is complete.

A journal only serves the run that made it: the source file (path, size, modification
time), the network, the output's size and encoder settings, the time range and the tile
plan are written into it as a fingerprint, and a run that differs in any of them is refused
(or, with --overwrite, starts over) rather than joining two different encodes. Each chunk
carries a checksum of its packets: a damaged one is made again, with every later one. A
run holds the folder with an OS lock (flock), which the system drops with the process
however it ends, so a second run on the same output is refused and a killed one's journal
is taken over.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vsr.atomic_file import atomic_output
from vsr.errors import VsrError
from vsr.video.writer import temp_path_for

_FORMAT = "vsr-chunk-journal-2"
# A chunk file: this magic, the packets' bytes one after another, then a JSON header
# (frames, last pts, each packet's timestamps and size) and its length as 8 bytes. The
# header goes last so that packets stream to disk as they are encoded: a chunk of a
# lossless 4K encode is gigabytes, more than memory should hold.
_MAGIC = b"VSRCHNK1"
_LENGTH = 8
PARTIAL = ".partial"  # a chunk file still being written
# Every name a journal folder may hold: anything else means it is not ours to delete.
_OURS = re.compile(r"run\.json|lock|chunk-[0-9]{6}\.bin(\.partial)?|\.run\.json\..*\.tmp")


@dataclass
class StoredChunk:
    """One finished chunk on disk: how many frames, where they ended, and where its
    packets are."""

    index: int
    frames: int
    # Its last frame: "pts" as the writer was given it, "repeats": how many frames in a row
    # were given that pts (a damaged source may repeat one), "written_pts": as written.
    end: dict[str, int]
    packets: list[dict[str, Any]]  # pts, dts, duration, keyframe, size
    path: Path
    crc32: int

    def intact(self) -> bool:
        """Whether the packets' bytes are those stored (a flipped bit would be muxed)."""
        crc, left = 0, sum(p["size"] for p in self.packets)
        with open(self.path, "rb") as file:
            file.seek(len(_MAGIC))
            while left:
                block = file.read(min(left, 1 << 24))
                if not block:
                    return False
                crc, left = zlib.crc32(block, crc), left - len(block)
        return crc == self.crc32

    def av_packets(self, time_base: Fraction) -> list[av.Packet]:
        """The chunk's packets, read from disk, ready to mux again."""
        out = []
        with open(self.path, "rb") as file:
            file.seek(len(_MAGIC))
            for meta in self.packets:
                packet = av.Packet(file.read(meta["size"]))
                packet.time_base = time_base
                packet.pts, packet.dts = meta["pts"], meta["dts"]
                packet.duration = meta["duration"]
                packet.is_keyframe = meta["keyframe"]
                out.append(packet)
        return out


class ChunkRecorder:
    """Writes one chunk's packets to a partial file as the encoder makes them (before the
    muxer, which empties them); `finish` completes the file under its final name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._partial = path.with_name(path.name + PARTIAL)
        self._file = open(self._partial, "wb")  # noqa: SIM115 - open until finish()
        self._file.write(_MAGIC)
        self._crc = 0  # of the packets' bytes: a damaged chunk must not be muxed
        self.packets: list[dict[str, Any]] = []

    def add(self, packet: av.Packet) -> None:
        data = bytes(packet)
        self._file.write(data)
        self._crc = zlib.crc32(data, self._crc)
        self.packets.append(
            {
                "pts": packet.pts,
                "dts": packet.dts,
                "duration": packet.duration or 0,
                "keyframe": bool(packet.is_keyframe),
                "size": len(data),
            }
        )

    def finish(self, index: int, frames: int, end: dict[str, int]) -> None:
        header = {"index": index, "frames": frames, "end": end, "crc32": self._crc}
        encoded = json.dumps({**header, "packets": self.packets}).encode()
        self._file.write(encoded + len(encoded).to_bytes(_LENGTH, "little"))
        self._file.close()
        os.replace(self._partial, self.path)


def journal_folder(output: Path) -> Path:
    """Where the finished chunks of `output` are kept while it is being made."""
    return output.with_name(f".{output.name}.vsr-resume")


class ChunkJournal:
    """The finished chunks of one output. `start(fingerprint, overwrite)` opens it and
    returns the chunks an earlier run left (contiguous from the first); `recorder(index)`
    stores one; `discard` removes the folder once the output is complete."""

    def __init__(self, output: str | Path) -> None:
        self.output = Path(output)
        self.folder = journal_folder(self.output)

    def start(self, fingerprint: dict[str, Any], overwrite: bool = False) -> list[StoredChunk]:
        """Open the journal for a run with `fingerprint`: the intact chunks to replay (none
        for a new journal). A journal of other settings is refused, or with `overwrite`
        replaced; one another vsr process holds is refused."""
        try:
            return self._start(json.loads(json.dumps(fingerprint)), overwrite)  # no tuples
        except OSError as error:
            self.release()
            raise VsrError(f"{self.folder}: cannot keep chunks there ({error.strerror})") from None
        except BaseException:
            self.release()
            raise

    def _start(self, fingerprint: dict[str, Any], overwrite: bool) -> list[StoredChunk]:
        if self.folder.exists():
            foreign = [p.name for p in self.folder.iterdir() if not _OURS.fullmatch(p.name)]
            if foreign or not self.folder.is_dir():
                raise VsrError(f"{self.folder} is in the way and is not a vsr journal; remove it")
            self._claim()
            stored = _read_manifest(self.folder / "run.json")
            if stored == fingerprint:
                for partial in self.folder.glob(f"*{PARTIAL}"):
                    partial.unlink()  # a chunk the interrupted run was writing
                return self._stored_chunks(verify=True)
            if not overwrite and self._stored_chunks():
                what = (
                    "other " + ", ".join(_differences(stored, fingerprint))
                    if stored is not None
                    else "an unreadable record of its settings"
                )
                raise VsrError(
                    f"{self.output}: the run kept in {self.folder} had {what}; run the same "
                    "command to continue it, or add --overwrite to start over"
                )
            self.discard()  # replaced, or it held no chunk worth keeping
        self.folder.mkdir(parents=True)
        self._claim()
        with atomic_output(self.folder / "run.json", "w") as stream:
            stream.write(json.dumps({"format": _FORMAT, **fingerprint}, indent=1))
        return []

    def _claim(self) -> None:
        """Hold the journal's lock for this process (the OS drops it when the process
        ends, however it ends), and clear what the last holder left beside the output."""
        import fcntl  # POSIX: imported here so that vsr still imports where it is missing

        handle = open(self.folder / "lock", "a+")  # noqa: SIM115 - held while the run lasts
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise VsrError(
                f"{self.output} is being made by another vsr run (process {holder}); wait "
                "for it, or stop it first"
            ) from None
        handle.seek(0)
        last = handle.read().strip()
        if last.isdigit() and int(last) != os.getpid():
            temp_path_for(self.output, int(last)).unlink(missing_ok=True)  # its half file
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle

    def release(self) -> None:
        """Let go of the lock (the chunks stay for a later run)."""
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is not None:
            lock.close()

    def recorder(self, index: int) -> ChunkRecorder:
        """Where chunk `index` goes. Encoder threads fill one each, in any order: a later
        chunk serves only once those before it are stored."""
        return ChunkRecorder(self.folder / f"chunk-{index:06d}.bin")

    def kept_frames(self) -> int:
        """The frames a run continuing from this journal would not upscale again."""
        return sum(chunk.frames for chunk in self._stored_chunks())

    def _stored_chunks(self, verify: bool = False) -> list[StoredChunk]:
        """Chunks 0, 1, 2... as long as each is whole (a later one is of no use alone),
        and with `verify` intact to the last byte."""
        chunks = []
        while True:
            chunk = _read_chunk(self.folder / f"chunk-{len(chunks):06d}.bin")
            if chunk is None or chunk.index != len(chunks) or (verify and not chunk.intact()):
                return chunks
            chunks.append(chunk)

    def discard(self) -> None:
        self.release()
        shutil.rmtree(self.folder, ignore_errors=True)

    def discard_if_ours(self) -> None:
        """Remove the folder if it is a journal no live run holds (never a folder of
        someone else's)."""
        if not self.folder.is_dir():
            return
        if not all(_OURS.fullmatch(p.name) for p in self.folder.iterdir()):
            return
        if getattr(self, "_lock", None) is None:
            try:
                self._claim()
            except (VsrError, OSError):
                return  # another run is making it
        self.discard()


def _read_manifest(path: Path) -> dict[str, Any] | None:
    """The settings a journal was made with, or None when they cannot be read."""
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.pop("format", None) != _FORMAT:
        return None
    return stored


def _differences(stored: dict[str, Any], fingerprint: dict[str, Any]) -> list[str]:
    return sorted(k for k in {*stored, *fingerprint} if stored.get(k) != fingerprint.get(k))


def _read_chunk(path: Path) -> StoredChunk | None:
    """The chunk in `path` (its header; the packets stay on disk), or None when it is
    missing or damaged."""
    try:
        with open(path, "rb") as file:
            if file.read(len(_MAGIC)) != _MAGIC:
                return None
            size = file.seek(0, os.SEEK_END)
            file.seek(size - _LENGTH)
            length = int.from_bytes(file.read(_LENGTH), "little")
            payload = size - _LENGTH - length - len(_MAGIC)
            if payload < 0:
                return None
            file.seek(len(_MAGIC) + payload)
            header = json.loads(file.read(length))
        if sum(p["size"] for p in header["packets"]) != payload:
            return None
        return StoredChunk(
            header["index"],
            header["frames"],
            header["end"],
            header["packets"],
            path,
            header["crc32"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
