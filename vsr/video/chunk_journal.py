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
(or, with --overwrite, starts over); the folder's record and lock are vsr.resume_folder's.
Each chunk carries a checksum of its packets: a damaged one is made again, with every later
one.
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from dataclasses import dataclass
from fractions import Fraction
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

import av

from vsr.errors import VsrError
from vsr.resume_folder import ResumeFolder

# A chunk file: this magic, the packets' bytes one after another, then a JSON header
# (frames, last pts, each packet's timestamps and size) and its length as 8 bytes. The
# header goes last so that packets stream to disk as they are encoded: a chunk of a
# lossless 4K encode is gigabytes, more than memory should hold.
_MAGIC = b"VSRCHNK1"
_LENGTH = 8
PARTIAL = ".partial"  # a chunk file still being written


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

    def __init__(self, path: Path, output: Path) -> None:
        self.path = path
        self.output = output
        self._partial = path.with_name(path.name + PARTIAL)
        try:
            self._file = open(self._partial, "wb")  # noqa: SIM115 - open until finish()
        except FileNotFoundError:
            raise self._folder_removed() from None
        self._file.write(_MAGIC)
        self._crc = 0  # of the packets' bytes: a damaged chunk must not be muxed
        self.packets: list[dict[str, Any]] = []

    def add(self, packet: av.Packet) -> None:
        data = bytes(packet)
        self._write(data)
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
        self._write(encoded + len(encoded).to_bytes(_LENGTH, "little"))
        self._file.close()
        try:
            os.replace(self._partial, self.path)
        except FileNotFoundError:
            raise self._folder_removed() from None

    def _folder_removed(self) -> VsrError:
        """The journal's folder removed under a live run (a clean-up of hidden folders, or
        advice followed): a bare FileNotFoundError ended the run with a traceback."""
        return VsrError(
            f"{self.output}: its resume folder {self.path.parent.name} was removed during "
            "the run (by a clean-up of the folder?); nothing was written"
        )

    def discard(self) -> None:
        """Close and delete an unfinished chunk (a failed or interrupted run): its open
        handle would otherwise hold the disk space until garbage collection."""
        if self._file.closed:
            return
        with contextlib.suppress(OSError):
            self._file.close()  # may flush into the full disk that stopped the run
        self._partial.unlink(missing_ok=True)

    def _write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as error:
            error.filename = error.filename or str(self._partial)  # which disk is full
            raise


def journal_folder(output: Path) -> Path:
    """Where the finished chunks of `output` are kept while it is being made."""
    return output.with_name(f".{output.name}.vsr-resume")


def notes_on_journals_of_other_names(output: Path) -> list[str]:
    """Chunks kept for the same name in another container (`film.mkv` when `film.mp4` is
    made): they serve only their own output, and no run would look for them again."""
    notes = []
    for folder in sorted(output.parent.glob(f".{glob_escape(output.stem)}.*.vsr-resume")):
        other = output.with_name(folder.name[1 : -len(".vsr-resume")])
        journal = ChunkJournal(other)
        same_name = other.stem == output.stem and other != output  # only the container
        if same_name and journal.is_ours() and journal.kept_frames():
            notes.append(
                f"{folder} holds {journal.kept_frames()} upscaled frames kept for "
                f"{other.name}, which only that output name continues (remove it if unwanted)"
            )
    return notes


class ChunkJournal(ResumeFolder):
    """The finished chunks of one output. `start(fingerprint, overwrite)` opens it and
    returns the chunks an earlier run left (contiguous from the first); `recorder(index)`
    stores one; `discard` removes the folder once the output is complete."""

    FORMAT = "vsr-chunk-journal-2"
    WORK_FILES = r"chunk-[0-9]{6}\.bin(\.partial)?"
    WHAT = "chunks"

    def __init__(self, output: str | Path) -> None:
        super().__init__(output, journal_folder(Path(output)))

    def start(self, fingerprint: dict[str, Any], overwrite: bool = False) -> list[StoredChunk]:
        """Open the journal for a run with `fingerprint`: the intact chunks to replay (none
        for a new journal). A journal of other settings is refused, or with `overwrite`
        replaced; one another vsr process holds is refused."""
        if not self.open(fingerprint, overwrite, lambda: bool(self._stored_chunks())):
            return []
        for partial in self.folder.glob(f"*{PARTIAL}"):
            partial.unlink()  # a chunk the interrupted run was writing
        return self._stored_chunks(verify=True)

    def recorder(self, index: int) -> ChunkRecorder:
        """Where chunk `index` goes. Encoder threads fill one each, in any order: a later
        chunk serves only once those before it are stored."""
        return ChunkRecorder(self.folder / f"chunk-{index:06d}.bin", Path(self.output))

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
