"""Finished segments of a segment-mode run, kept so that an interrupted or partly failed run
continues where it stopped (`vsr run LONG OUT --ray --segments N --resume`).

Each task writes its upscaled segment (lossless FFV1) into the store's folder beside the
output, renamed into place when whole, and the driver records it beside it: the segment's
source timestamps, its size and a CRC-32 of the file the worker computed. When the run is
cut short (Ctrl-C, a dead driver, a segment that failed), the same command with --resume
checks every recorded segment against its record, submits only the others, and joins them
all. The folder goes once the output is complete.

The record of settings (vsr.resume_folder) holds what decides the upscaled frames: the
source file, the network and its precision, the memory budget (tiling), the output size,
pixel format and chroma siting, the time range and the segment plan. The final encoder's
other settings are not in it: the segments are lossless, so a rerun may change the quality,
or the codec where that keeps the siting, and still use them.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vsr.atomic_file import atomic_output
from vsr.errors import VsrError
from vsr.resume_folder import ResumeFolder


def store_folder(output: Path) -> Path:
    """Where the finished segments of `output` are kept while it is being made."""
    return output.with_name(f".{output.name}.vsr-segments")


def segment_file(folder: Path, index: int) -> Path:
    """The upscaled segment `index` in a work folder."""
    return folder / f"segment-{index:05d}.mkv"


def file_crc32(path: Path) -> int:
    """CRC-32 of a whole file, read in blocks (a lossless 4K segment is gigabytes)."""
    crc = 0
    with open(path, "rb") as file:
        while block := file.read(1 << 24):
            crc = zlib.crc32(block, crc)
    return crc


@dataclass(frozen=True)
class KeptSegment:
    """One finished segment on disk and the source timestamps of its frames."""

    index: int
    path: Path
    pts: list[int]
    lost_frames: int = 0  # frames of its range the source's decoder could not give


class SegmentStore(ResumeFolder):
    """The finished segments of one output. `start(fingerprint, overwrite)` opens it and
    returns the intact segments an earlier run left; `keep` records one; `discard` removes
    the folder once the output is complete."""

    FORMAT = "vsr-segment-store-1"
    # The segments and their records, and the temporary files of both (a worker's
    # upscale_video writes `.segment-00003.<pid>.tmp.mkv`, a record `.segment-00003.json.*`)
    # and the source's part a worker cuts (`.segment-00003.<pid>.cut.mkv`).
    WORK_FILES = (
        r"segment-[0-9]{5}\.(mkv|json)"
        r"|\.segment-[0-9]{5}\.[0-9]+\.(tmp|cut)\.mkv"
        r"|\.segment-[0-9]{5}\.json\..*\.tmp"
    )
    WHAT = "segments"

    def __init__(self, output: str | Path) -> None:
        super().__init__(output, store_folder(Path(output)))

    def start(self, fingerprint: dict[str, Any], overwrite: bool = False) -> list[KeptSegment]:
        """Open the store for a run with `fingerprint`: the intact segments to join again
        (none for a new store). A store of other settings is refused, or with `overwrite`
        replaced; one another vsr process holds is refused."""
        if not self.open(fingerprint, overwrite, lambda: bool(self._kept())):
            return []
        try:
            for temp in self.folder.glob(".segment-*"):
                temp.unlink()  # what a killed worker or driver was writing
            kept = self._kept(verify=True)
            for stale in {*self.folder.glob("segment-*")} - {
                path for segment in kept for path in (segment.path, _record_path(segment.path))
            }:
                stale.unlink()  # damaged, or a segment whose record never came: made again
        except OSError as error:
            self.release()
            raise VsrError(
                f"{self.folder}: cannot keep segments there ({error.strerror}: "
                f"{Path(error.filename or '?').name})"
            ) from None
        return kept

    def segment_path(self, index: int) -> Path:
        return segment_file(self.folder, index)

    def keep(self, index: int, pts: list[int], crc32: int, lost_frames: int = 0) -> None:
        """Record segment `index`, which its worker has written whole, with its frames'
        source timestamps, the CRC-32 it computed of the file and the frames it lost."""
        path = self.segment_path(index)
        record = {"index": index, "pts": pts, "size": path.stat().st_size, "crc32": crc32}
        record["lost_frames"] = lost_frames
        with atomic_output(_record_path(path), "w") as stream:
            json.dump(record, stream)

    def kept_count(self) -> int:
        return len(self._kept())

    def _kept(self, verify: bool = False) -> list[KeptSegment]:
        """The recorded segments whose file has its recorded size, and with `verify` its
        recorded checksum too."""
        kept = []
        for record_path in sorted(self.folder.glob("segment-*.json")):
            path = record_path.with_suffix(".mkv")
            try:
                record = json.loads(record_path.read_text())
                whole = path.stat().st_size == record["size"]
                whole = whole and path == self.segment_path(int(record["index"]))
                if whole and (not verify or file_crc32(path) == record["crc32"]):
                    lost = int(record.get("lost_frames", 0))
                    kept.append(KeptSegment(int(record["index"]), path, list(record["pts"]), lost))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # unreadable: the segment is made again
        return kept


def _record_path(segment: Path) -> Path:
    return segment.with_suffix(".json")
