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
time), the network, the output's size and encoder settings and the time range are written
into it as a fingerprint, and a run that differs in any of them is refused (or, with
--overwrite, starts over) rather than joining two different encodes.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vsr.atomic_file import atomic_output
from vsr.errors import VsrError
from vsr.video.writer import temp_path_for

_FORMAT = "vsr-chunk-journal-1"
# A chunk file: this magic, the packets' bytes one after another, then a JSON header
# (frames, last pts, each packet's timestamps and size) and its length as 8 bytes. The
# header goes last so that packets stream to disk as they are encoded: a chunk of a
# lossless 4K encode is gigabytes, more than memory should hold.
_MAGIC = b"VSRCHNK1"
_LENGTH = 8
PARTIAL = ".partial"  # a chunk file still being written


@dataclass
class StoredChunk:
    """One finished chunk on disk: how many frames, the pts the last one was written with
    (as the writer received it), and where its packets are."""

    index: int
    frames: int
    last_pts: int
    packets: list[dict[str, Any]]  # pts, dts, duration, keyframe, size
    path: Path

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
        self.packets: list[dict[str, Any]] = []

    def add(self, packet: av.Packet) -> None:
        data = bytes(packet)
        self._file.write(data)
        self.packets.append(
            {
                "pts": packet.pts,
                "dts": packet.dts,
                "duration": packet.duration or 0,
                "keyframe": bool(packet.is_keyframe),
                "size": len(data),
            }
        )

    def finish(self, index: int, frames: int, last_pts: int) -> None:
        header = {"index": index, "frames": frames, "last_pts": last_pts}
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
        """Open the journal for a run with `fingerprint`: the chunks to replay (none for a
        new journal). Refuses a journal another live vsr process is writing, and removes
        what a process that died left beside the output (its temporary file)."""
        manifest = self.folder / "run.json"
        fingerprint = json.loads(json.dumps(fingerprint))  # as it will read back (no tuples)
        if self.folder.exists() and not manifest.is_file():
            raise VsrError(f"{self.folder} is in the way and is not a vsr journal; remove it")
        self._claim()
        if manifest.is_file():
            stored = _read_manifest(manifest)
            differs = sorted(
                k for k in {*stored, *fingerprint} if stored.get(k) != fingerprint.get(k)
            )
            if not differs:
                for partial in self.folder.glob(f"*{PARTIAL}"):
                    partial.unlink()  # a chunk the interrupted run was writing
                return self._stored_chunks()
            if not overwrite:
                raise VsrError(
                    f"{self.output}: the run kept in {self.folder} had other "
                    f"{', '.join(differs)}; run the same command to continue it, or add "
                    "--overwrite to start over"
                )
            self.discard()
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "owner").write_text(str(os.getpid()))
        with atomic_output(manifest, "w") as stream:
            stream.write(json.dumps({"format": _FORMAT, **fingerprint}, indent=1))
        return []

    def recorder(self, index: int) -> ChunkRecorder:
        """Where chunk `index` goes. Encoder threads fill one each, in any order: a later
        chunk serves only once those before it are stored."""
        return ChunkRecorder(self.folder / f"chunk-{index:06d}.bin")

    def kept_frames(self) -> int:
        """The frames a run continuing from this journal would not upscale again."""
        return sum(chunk.frames for chunk in self._stored_chunks())

    def _stored_chunks(self) -> list[StoredChunk]:
        """Chunks 0, 1, 2... as long as each is whole (a later one is of no use alone)."""
        chunks = []
        while True:
            chunk = _read_chunk(self.folder / f"chunk-{len(chunks):06d}.bin")
            if chunk is None or chunk.index != len(chunks):
                return chunks
            chunks.append(chunk)

    def _claim(self) -> None:
        owner_file = self.folder / "owner"
        try:
            owner = int(owner_file.read_text())
        except (OSError, ValueError):
            owner = None
        if owner is not None and owner != os.getpid() and _alive(owner):
            raise VsrError(
                f"{self.output} is being made by another vsr run (process {owner}); "
                "wait for it, or stop it first"
            )
        if owner is not None and owner != os.getpid():
            temp_path_for(self.output, owner).unlink(missing_ok=True)  # its half-written output
        if self.folder.is_dir():
            owner_file.write_text(str(os.getpid()))

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {}
    if stored.pop("format", None) != _FORMAT:
        raise VsrError(f"{path.parent} holds no journal this vsr can read; remove it")
    return stored


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
            header["index"], header["frames"], header["last_pts"], header["packets"], path
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
